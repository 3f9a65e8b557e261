"""``stir replay load``: a replay file into a topic, validated against the topic's contract first.

Records keep their key, headers and timestamp (and partition with ``--preserve-partitions``). A record that
fails validation goes to the deployment's ``dlq.replay`` with the reason. The target topic must exist (``--create``
makes it with the source's partition count).

Each record carries one more header, ``stir.replay`` = ``<load id>:<index in the file>`` (dumps leave it out, so
a dump of the target equals the source's). Progress is checkpointed next to the file: the end offsets of the
target and DLQ topics when the load began, and the indices the broker acknowledged. SIGINT, SIGTERM and SIGHUP stop
producing, wait for the acknowledgements in flight and write the checkpoint. A resume (the same command) first
reads what the topics received since the load began and marks those indices done, so even after a SIGKILL each
record is delivered exactly once. A lock file keeps a second load of the same file into the same topic out.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.replay.records import LOAD_HEADER, Jsonl, Record, detect_format, read_avro, read_jsonl

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class LoadInterrupted(RuntimeError):
    pass


class AlreadyLoaded(RuntimeError):
    pass


class AlreadyRunning(RuntimeError):
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
        self.load_id = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:16]
        self.done_through = -1
        self.beyond: set[int] = set()
        self.complete = False
        self.starts: dict[str, dict[int, int]] = {}  # topic -> partition -> end offset when the load began

    def load(self) -> bool:
        if not self.path.exists():
            return False
        data = json.loads(self.path.read_text())
        if data.get("identity") != self.identity:
            raise ValueError(f"{self.path} belongs to another file or topic ({data.get('identity')}); remove it "
                             "or pass --restart")  # fmt: skip
        self.done_through, self.beyond, self.complete = data["done_through"], set(data["beyond"]), data["complete"]
        self.starts = {t: {int(p): o for p, o in ps.items()} for t, ps in data.get("starts", {}).items()}
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
                                   "beyond": sorted(self.beyond), "complete": self.complete,
                                   "starts": self.starts}))  # fmt: skip
        tmp.replace(self.path)

    def tag(self, i: int) -> bytes:
        return f"{self.load_id}:{i}".encode()


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path`` locked (flock) for the load; a second load of the same file into the same topic is refused."""
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise AlreadyRunning(f"another load of this file into this topic is running (pid {holder}, lock "
                                 f"{path}); wait for it or stop it, then run this command again") from None  # fmt: skip
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield


def _end_offsets(c: Consumer, topic: str, attempts: int = 50) -> dict[int, int]:
    """Each partition's end offset (retried while a leader moves)."""
    for attempt in range(attempts):
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in sorted(md.partitions)}
        except KafkaException as e:
            err = e.args[0]
            moving = err.code() in (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                                    KafkaError.UNKNOWN_TOPIC_OR_PART)  # fmt: skip
            if not (err.retriable() or moving) or attempt == attempts - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def recover_delivered(bootstrap: str, ck: Checkpoint, timeout_s: float = 300.0) -> int:
    """Mark done every record of this load the topics received since it began (found by its ``stir.replay``
    header): those acknowledged after the last checkpoint write, or in flight at a SIGKILL. Returns how many."""
    found = 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"stir-replay-resume-{ck.load_id}",
                  "enable.auto.commit": False, "enable.partition.eof": True})  # fmt: skip
    try:
        for topic, starts in ck.starts.items():
            ends = _end_offsets(c, topic)
            todo = {p: ends[p] for p, start in starts.items() if p in ends and start < ends[p]}
            if not todo:
                continue
            c.assign([TopicPartition(topic, p, starts[p]) for p in todo])
            prefix = f"{ck.load_id}:".encode()
            deadline = time.monotonic() + timeout_s
            while todo:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not read back {topic} partitions {sorted(todo)} in {timeout_s:.0f}s to "
                                       "resume exactly once; check the broker, then run the command again")  # fmt: skip
                for m in c.consume(10_000, 1.0):
                    err, part = m.error(), m.partition()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF and part is not None:
                            todo.pop(part, None)
                        continue
                    if part is not None and (m.offset() or 0) + 1 >= todo.get(part, 0):
                        todo.pop(part, None)
                    for header in m.headers() or []:
                        name, value = header[0], header[1]
                        if name == LOAD_HEADER and isinstance(value, bytes) and value.startswith(prefix):
                            i = int(value[len(prefix) :])
                            if not ck.done(i):
                                ck.ack(i)
                                found += 1
            c.unassign()
    finally:
        c.close()
    return found


def ensure_target(bootstrap: str, topic: str, dlq_topic: str, create: int | None, dlq_partitions: int,
                  replication_factor: int = 1, dlq_configs: dict[str, str] | None = None) -> None:  # fmt: skip
    """The target topic must exist (``create``: make it with that many partitions); the DLQ topic, one of the
    deployment's declared topics, is created with its declared configs when missing."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)  # every topic: asking for one could auto-create it
    wanted = []
    if topic not in existing:
        if create is None:
            raise ValueError(f"topic {topic!r} does not exist: check its name (and STIR_TOPIC_PREFIX), or pass "
                             "--create to make it with the source's partition count")  # fmt: skip
        wanted.append(NewTopic(topic, create, replication_factor))
    if dlq_topic not in existing:
        wanted.append(NewTopic(dlq_topic, dlq_partitions, replication_factor, config=dlq_configs or {}))
    for name, fut in admin.create_topics(wanted, operation_timeout=30).items() if wanted else []:
        try:
            fut.result()
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise RuntimeError(f"cannot create topic {name}: {e}") from None
    deadline = time.monotonic() + 30
    for t in wanted:  # a new topic answers offset requests once each partition has a leader
        while True:
            md = admin.list_topics(timeout=10).topics.get(t.topic)
            if md is not None and md.partitions and all(p.leader >= 0 for p in md.partitions.values()):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {t.topic} has no leader 30 s after it was created")
            time.sleep(0.1)


def file_metadata(path: Path, fmt: str) -> dict[str, str]:
    """An Avro dump's metadata (its source topic, range, partition count, contract); none for JSONL."""
    if fmt != "avro":
        return {}
    import fastavro

    with open(path, "rb") as fh:
        return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in fastavro.reader(fh).metadata.items()}


def records_of(path: Path, fmt: str, jsonl: Jsonl) -> tuple[dict[str, str], Iterator[Record]]:
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "avro":
        return read_avro(path)
    return {}, read_jsonl(path, jsonl)


def load(bootstrap: str, source: Path, topic: str, *, fmt: str = "auto", jsonl: Jsonl = Jsonl(),
         rate: float | None = None, dry_run: bool = False, preserve_partitions: bool = False,
         dlq_topic: str = "dlq.replay", checkpoint: Path | None = None, restart: bool = False,
         create: bool = False, default_partitions: int = 4, replication_factor: int = 1,
         on_total: Callable[[int], None] = lambda _n: None, on_record: Callable[[int], None] = lambda _n: None,
         ) -> LoadResult:  # fmt: skip
    fmt = detect_format(source) if fmt == "auto" else fmt
    if preserve_partitions and fmt != "avro":
        raise ValueError("--preserve-partitions needs an Avro dump: a JSONL file keeps no partitions")
    ck = Checkpoint(checkpoint or source.with_name(f"{source.name}.{topic}.checkpoint.json"), source, topic)
    if dry_run:
        return _load(bootstrap, source, topic, fmt, jsonl, rate, True, preserve_partitions, dlq_topic, ck,
                     restart, on_total, on_record)  # fmt: skip
    with exclusive(ck.path.with_name(ck.path.name + ".lock")):
        partitions_wanted = None
        if create:
            partitions_wanted = int(file_metadata(source, fmt).get("stir.source.partitions", default_partitions))
        from schemas.topics import topic as declared

        ensure_target(bootstrap, topic, dlq_topic, partitions_wanted, default_partitions, replication_factor,
                      declared("dlq.replay").configs)  # fmt: skip
        return _load(bootstrap, source, topic, fmt, jsonl, rate, False, preserve_partitions, dlq_topic, ck,
                     restart, on_total, on_record)  # fmt: skip


def _load(bootstrap: str, source: Path, topic: str, fmt: str, jsonl: Jsonl, rate: float | None, dry_run: bool,
          preserve_partitions: bool, dlq_topic: str, ck: Checkpoint, restart: bool,
          on_total: Callable[[int], None], on_record: Callable[[int], None]) -> LoadResult:  # fmt: skip
    t0 = time.perf_counter()
    meta, records = records_of(source, fmt, jsonl)
    check = validator(topic, meta.get("stir.contract.topic"))
    if restart:
        ck.path.unlink(missing_ok=True)
    elif not dry_run and ck.load() and ck.complete:
        raise AlreadyLoaded(f"{source} was already loaded into {topic} ({ck.path}); --restart loads it again")
    producer: Producer | None = None
    errors: list[str] = []
    if not dry_run:
        if ck.starts:  # a resume: what landed after the last checkpoint write (or in flight at a kill) is done
            recover_delivered(bootstrap, ck)
        else:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"stir-replay-start-{ck.load_id}"})
            try:
                ck.starts = {t: _end_offsets(c, t) for t in (topic, dlq_topic)}
            finally:
                c.close()
        ck.save()  # before the first record: a SIGKILL from here on is recovered from the topics
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 10, "partitioner": "murmur2_random", "compression.type": "lz4",
                             "queue.buffering.max.messages": 200_000})  # fmt: skip
        partitions = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    result = LoadResult(resumed_past=0 if dry_run else ck.done_through + 1 + len(ck.beyond))

    stop = {"sig": 0}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop["sig"] = signum

    old = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}
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
            own = [h for h in rec.headers if h[0] != LOAD_HEADER]
            if reason is not None:
                dlq = {"dlq.reason": reason, "dlq.source": str(source), "dlq.index": str(i), "dlq.topic": topic}
                kwargs["headers"] = [*own, *((k, v.encode()) for k, v in dlq.items()), (LOAD_HEADER, ck.tag(i))]
                target = dlq_topic
            else:
                kwargs["headers"] = [*own, (LOAD_HEADER, ck.tag(i))]
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
        for sig, handler in old.items():
            signal.signal(sig, handler)
    result.seconds = time.perf_counter() - t0
    on_total(result.total)
    return result
