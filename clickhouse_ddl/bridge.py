"""The embedded rendering's Kafka reader: what the ``Kafka`` engine does on a server, done with confluent-kafka.

Poll a batch of messages, append each JSON line's Kafka coordinates (the engine's virtual columns), insert one
``JSONEachRow`` block per source table, then commit the offsets (without waiting for the answer): at-least-once,
and the targets make the redelivered rows harmless (ReplacingMergeTree by version, idempotent aggregate states).
A block that does not parse is retried line by line; the lines that still fail become error rows (``_error``,
``_raw_message``), which the source's error view moves to ``ingest_errors`` — the server's
``kafka_handle_error_mode='stream'``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from clickhouse_ddl.render import Source

log = logging.getLogger("stir.bridge")

ROWS = Counter("stir_bridge_rows_total", "Rows inserted into the warehouse", ["table"])
ERRORS = Counter("stir_bridge_error_rows_total", "Rows that did not parse (sent to ingest_errors)", ["table"])
BATCH_SECONDS = Histogram("stir_bridge_batch_seconds", "Poll-to-commit time of one bridge batch",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))  # fmt: skip
LAG = Gauge("stir_bridge_lag_messages", "Messages not yet read by the bridge", ["topic", "partition"])
LAST_INSERT = Gauge("stir_bridge_last_insert_timestamp_seconds", "When the bridge last inserted rows")

# insert(table, jsonl) -> None; raises when ClickHouse rejects the block
Insert = Callable[[str, bytes], None]


@dataclass
class BatchStats:
    messages: int = 0
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: int = 0


def _meta(msg: Message) -> bytes:
    ts_type, ts = msg.timestamp()
    ts_text = "null" if ts_type == 0 or ts is None or ts < 0 else f'"{ts / 1000:.3f}"'
    topic = json.dumps(msg.topic())
    return (f'"_topic":{topic},"_partition":{msg.partition()},"_offset":{msg.offset()},'
            f'"_timestamp_ms":{ts_text},"_raw_message":"","_error":""}}').encode()  # fmt: skip


def with_meta(line: bytes, meta: bytes) -> bytes | None:
    """``{...}`` + the Kafka columns, by splicing text (no JSON parse on the hot path); None when the line
    is not a JSON object's text (it then goes through the slow path)."""
    line = line.strip()
    if len(line) < 2 or line[:1] != b"{" or line[-1:] != b"}":
        return None
    body = line[1:-1].strip()
    return b"{" + body + (b"," if body else b"") + meta


def error_row(msg: Message, line: bytes, reason: str) -> bytes:
    return json.dumps({
        "_topic": msg.topic(), "_partition": msg.partition(), "_offset": msg.offset(), "_timestamp_ms": None,
        "_raw_message": line.decode("utf-8", "replace"), "_error": reason[:2000],
    }).encode()  # fmt: skip


def _close(consumer: Consumer) -> None:
    with contextlib.suppress(Exception):
        consumer.close()


class Bridge:
    def __init__(
        self,
        bootstrap: str,
        group: str,
        sources: list[Source],
        topic_prefix: str,
        insert: Insert,
        max_messages: int = 2000,
        poll_s: float = 0.2,
    ) -> None:
        self.table_of = {topic_prefix + s.topic: s.table for s in sources}
        self.insert = insert
        self.max_messages = max_messages
        self.poll_s = poll_s
        self.bootstrap, self.group = bootstrap, group
        self._commit_pending_since: float | None = None  # the oldest commit the coordinator has not answered
        self.consumer = self._consumer()
        self._unassigned_since: float | None = time.monotonic()
        self.stopped = threading.Event()
        self._last_lag = 0.0

    REJOIN_AFTER_S = 30.0

    def _consumer(self) -> Consumer:
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": self.group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.queue.backoff.ms": 10, "enable.partition.eof": False,
            "topic.metadata.refresh.interval.ms": 5000, "session.timeout.ms": 10000, "heartbeat.interval.ms": 2000,
            "on_commit": self._committed,
        })  # fmt: skip
        consumer.subscribe(sorted(self.table_of))
        self._commit_pending_since = None
        return consumer

    def _committed(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """An asynchronous commit's answer (served inside ``consume``)."""
        failed = [tp for tp in partitions or [] if tp.error is not None]
        if err is None and not failed:
            self._commit_pending_since = None
        else:
            log.warning("commit failed (the rows will be read again if this lasts): %s", err or failed[0].error)

    def _commit(self) -> None:
        """Commit the batch's offsets without waiting: a synchronous commit waits for the group coordinator, and
        after a broker restart it waited for good (the bridge then read nothing more, seen in the fault test)."""
        try:
            self.consumer.commit(asynchronous=True)
        except KafkaException as exc:  # e.g. the group moved on during a broker restart: read again, harmless
            log.warning("commit failed (the rows will be read again): %s", exc)
            return
        if self._commit_pending_since is None:
            self._commit_pending_since = time.monotonic()

    def _rejoin_if_stranded(self) -> None:
        """After a broker restart librdkafka's consumer can lose its group session and then keep failing to reach
        the group coordinator (seen: "GroupCoordinator: Timed out ... 1 out-queue" every minute, nothing read).
        With no partitions assigned, or a commit unanswered, for ``REJOIN_AFTER_S``, leave it and join again with
        a new one (the committed offsets are in Kafka; anything read twice is harmless)."""
        now = time.monotonic()
        why = None
        if self._commit_pending_since is not None and now - self._commit_pending_since > self.REJOIN_AFTER_S:
            why = f"a commit unanswered for {now - self._commit_pending_since:.0f}s"
        elif self.consumer.assignment():
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = now
        elif now - self._unassigned_since > self.REJOIN_AFTER_S:
            why = f"no partitions assigned for {now - self._unassigned_since:.0f}s"
        if why is None:
            return
        log.warning("%s: rejoining the group with a new consumer", why)
        old = self.consumer
        # closing may wait for the coordinator too: in the background, never in the read loop
        threading.Thread(target=_close, args=(old,), daemon=True).start()
        self.consumer = self._consumer()
        self._unassigned_since = time.monotonic()

    def close(self) -> None:
        self.consumer.close()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.run_once()

    def run_once(self) -> BatchStats:
        msgs = self.consumer.consume(self.max_messages, self.poll_s)
        stats = BatchStats()
        t0 = time.perf_counter()
        blocks: dict[str, list[tuple[Message, bytes | None]]] = defaultdict(list)
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", err)
                continue
            table = self.table_of.get(msg.topic() or "")
            if table is None:
                continue
            stats.messages += 1
            blocks[table].append((msg, msg.value()))
        for table, items in blocks.items():
            self._insert_table(table, items, stats)
        if stats.messages:
            self._commit()
            BATCH_SECONDS.observe(time.perf_counter() - t0)
            LAST_INSERT.set(time.time())
        if time.monotonic() - self._last_lag > 5:
            self._update_lag()
            self._rejoin_if_stranded()
        return stats

    @staticmethod
    def _lines(items: list[tuple[Message, bytes | None]]) -> Iterator[tuple[Message, bytes, bytes | None]]:
        """(message, JSON line, the line with the Kafka columns or None when it is not a JSON object)."""
        for msg, value in items:
            meta = _meta(msg)
            for line in (value or b"").split(b"\n"):
                if line.strip():
                    yield msg, line, with_meta(line, meta)

    def _insert_table(self, table: str, items: list[tuple[Message, bytes | None]], stats: BatchStats) -> None:
        rows = [row for _, _, row in self._lines(items)]
        if all(row is not None for row in rows):
            try:
                if rows:
                    self.insert(table, b"\n".join(rows) + b"\n")  # type: ignore[arg-type]
                stats.rows[table] += len(rows)
                ROWS.labels(table).inc(len(rows))
                return
            except Exception as exc:
                log.warning("%s: block of %d rows rejected (%s); retrying row by row", table, len(rows), exc)
        self._insert_rows(table, items, stats)

    def _insert_rows(self, table: str, items: list[tuple[Message, bytes | None]], stats: BatchStats) -> None:
        for msg, line, row in self._lines(items):
            reason = "not a JSON object"
            if row is not None:
                try:
                    self.insert(table, row + b"\n")
                    stats.rows[table] += 1
                    ROWS.labels(table).inc()
                    continue
                except Exception as exc:
                    reason = str(exc)
            self.insert(table, error_row(msg, line, reason) + b"\n")
            stats.errors += 1
            ERRORS.labels(table).inc()

    def _update_lag(self) -> None:
        self._last_lag = time.monotonic()
        try:
            assignment = self.consumer.assignment()
            positions = self.consumer.position(assignment)
            for tp in positions:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), cached=True)
                if tp.offset >= 0 and high >= 0:
                    LAG.labels(tp.topic, str(tp.partition)).set(max(high - tp.offset, 0))
        except Exception as exc:  # lag is best-effort monitoring
            log.debug("lag update failed: %s", exc)
