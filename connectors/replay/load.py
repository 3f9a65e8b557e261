"""``stir replay load``: a replay file into a topic, validated against the topic's contract first.

Records keep their key, headers and timestamp (and partition with ``--preserve-partitions``). A record that
fails validation goes to ``dlq.replay`` with the reason. Progress is checkpointed next to the file: the indices
the broker acknowledged. Ctrl-C stops producing, waits for the acknowledgements in flight and writes the
checkpoint, so running the same command again delivers each remaining record exactly once. After a hard crash
the records acknowledged since the last checkpoint write (every 0.5 s) are sent again (the pipeline drops
them as duplicates by ``event_id``).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from connectors.replay.records import Record, detect_format, read_avro, read_jsonl


class LoadInterrupted(RuntimeError):
    pass


class AlreadyLoaded(RuntimeError):
    pass


@dataclass
class LoadResult:
    total: int = 0
    sent: int = 0
    invalid: int = 0
    resumed_past: int = 0
    seconds: float = 0.0
    rows: int = 0


def validator(topic: str, contract: str | None = None) -> Callable[[bytes | None], str | None]:
    """The reason a record's value breaks the target topic's contract (every JSON line must validate), or None.

    ``contract`` is the one the replay file names (its ``stir.contract.topic``): a file of another contract than
    the target topic's is refused as a whole (ValueError), never validated against the wrong model."""
    from pydantic import ValidationError

    from schemas.registry import contract_of_topic, contracts

    found = contract_of_topic(topic)
    if contract:
        if contract not in contracts():
            raise ValueError(f"the replay file names the contract {contract!r}, which does not exist; known: "
                             f"{', '.join(sorted(contracts()))}")  # fmt: skip
        if found is None or found.topic != contract:
            target = found.topic if found else "none (a topic without a contract)"
            raise ValueError(f"the replay file holds {contract} records, but topic {topic!r} has the contract "
                             f"{target}; load it into a {contract} topic")  # fmt: skip
    name, model = (found.topic, found.model) if found else (None, None)

    def check(value: bytes | None) -> str | None:
        if value is None:
            return None if model is None else "null value (tombstone) on a contract topic"
        for n, row in enumerate(value.split(b"\n"), start=1):
            if not row.strip():
                continue
            try:
                if model is None:
                    if not isinstance(json.loads(row), dict):
                        return f"row {n}: not a JSON object"
                else:
                    model.model_validate_json(row)
            except ValidationError as e:
                first = e.errors()[0]
                if first["type"] == "json_invalid":
                    return f"row {n}: not JSON: {first['msg']}"
                return f"row {n}: {name}: {'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
            except (ValueError, RecursionError) as e:
                return f"row {n}: not JSON: {type(e).__name__}: {e}"
        return None

    return check


class Checkpoint:
    """Indices acknowledged by the broker: a contiguous prefix plus the few acknowledged beyond it."""

    def __init__(self, path: Path, source: Path, topic: str) -> None:
        self.path = path
        st = source.stat()
        self.identity = {"file": str(source.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "topic": topic}
        self.done_through = -1
        self.beyond: set[int] = set()
        self.complete = False

    def load(self) -> bool:
        if not self.path.exists():
            return False
        data = json.loads(self.path.read_text())
        if data.get("identity") != self.identity:
            raise ValueError(f"{self.path} belongs to another file or topic ({data.get('identity')}); remove it "
                             "or pass --restart")  # fmt: skip
        self.done_through, self.beyond, self.complete = data["done_through"], set(data["beyond"]), data["complete"]
        return True

    def done(self, i: int) -> bool:
        return i <= self.done_through or i in self.beyond

    def ack(self, i: int) -> None:
        self.beyond.add(i)
        while self.done_through + 1 in self.beyond:
            self.done_through += 1
            self.beyond.discard(self.done_through)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"identity": self.identity, "done_through": self.done_through,
                                   "beyond": sorted(self.beyond), "complete": self.complete}))  # fmt: skip
        tmp.replace(self.path)


def records_of(path: Path, fmt: str, separator: str) -> tuple[dict[str, str], Iterator[Record]]:
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "avro":
        return read_avro(path)
    return {}, read_jsonl(path, separator)


def load(bootstrap: str, source: Path, topic: str, *, fmt: str = "auto", separator: str = "\t",
         rate: float | None = None, dry_run: bool = False, preserve_partitions: bool = False,
         dlq_topic: str = "dlq.replay", checkpoint: Path | None = None, restart: bool = False,
         on_total: Callable[[int], None] = lambda _n: None, on_record: Callable[[int], None] = lambda _n: None,
         ) -> LoadResult:  # fmt: skip
    t0 = time.perf_counter()
    meta, records = records_of(source, fmt, separator)
    check = validator(topic, meta.get("stir.contract.topic"))
    ck = Checkpoint(checkpoint or source.with_name(f"{source.name}.{topic}.checkpoint.json"), source, topic)
    if restart:
        ck.path.unlink(missing_ok=True)
    elif not dry_run and ck.load() and ck.complete:
        raise AlreadyLoaded(f"{source} was already loaded into {topic} ({ck.path}); --restart loads it again")
    result = LoadResult(resumed_past=0 if dry_run else ck.done_through + 1 + len(ck.beyond))
    producer: Producer | None = None
    errors: list[str] = []
    if not dry_run:
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 10, "partitioner": "murmur2_random", "compression.type": "lz4",
                             "queue.buffering.max.messages": 200_000})  # fmt: skip
        partitions = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)

    stop = {"sig": 0}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop["sig"] = signum

    old = signal.signal(signal.SIGINT, on_signal)
    last_save = time.monotonic()
    started = time.monotonic()
    try:
        for i, rec in enumerate(records):
            result.total += 1
            if stop["sig"]:
                break
            if not dry_run and ck.done(i):
                continue
            reason = check(rec.value)
            on_record(1)
            if reason is not None:
                result.invalid += 1
            if dry_run:
                continue
            assert producer is not None

            def delivered(err: KafkaError | None, _msg: Message, i: int = i) -> None:
                if err is not None:
                    errors.append(str(err))
                else:
                    ck.ack(i)

            kwargs: dict[str, Any] = {"key": rec.key, "value": rec.value, "on_delivery": delivered}
            if reason is not None:
                dlq = {"dlq.reason": reason, "dlq.source": str(source), "dlq.index": str(i), "dlq.topic": topic}
                kwargs["headers"] = [*rec.headers, *((k, v.encode()) for k, v in dlq.items())]
                target = dlq_topic
            else:
                kwargs["headers"] = rec.headers or None
                if rec.timestamp > 0:
                    kwargs["timestamp"] = rec.timestamp
                if preserve_partitions:
                    if not 0 <= rec.partition < partitions:
                        raise ValueError(f"record {i} is from partition {rec.partition}; {topic} has {partitions}")
                    kwargs["partition"] = rec.partition
                target = topic
                result.sent += 1
                result.rows += (rec.value or b"").count(b"\n") + 1
            while True:
                try:
                    producer.produce(target, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
            if errors:
                raise RuntimeError(f"delivery failed: {errors[0]}")
            if rate:
                ahead = (result.sent + result.invalid) / rate - (time.monotonic() - started)
                if ahead > 0:
                    producer.poll(ahead)
            if time.monotonic() - last_save > 0.5:
                ck.save()
                last_save = time.monotonic()
        if producer is not None:
            remaining = producer.flush(60)
            if errors or remaining:
                ck.save()
                raise RuntimeError(f"delivery failed: {errors[0] if errors else f'{remaining} unacknowledged'}")
            ck.complete = not stop["sig"]
            ck.save()
        if stop["sig"]:
            raise LoadInterrupted(f"interrupted; {ck.done_through + 1 + len(ck.beyond)} records delivered and "
                                  f"checkpointed in {ck.path}; run the same command to resume")  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, old)
    result.seconds = time.perf_counter() - t0
    on_total(result.total)
    return result
