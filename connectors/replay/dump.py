"""``stir replay dump``: a topic's offset or time range to an Avro or console-format file."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from connectors.replay.records import LOAD_HEADER, Jsonl, Record, contract_metadata, jsonl_lines, write_avro

Bound = int | datetime | str  # offset, time, or "now"


def parse_bound(text: str) -> Bound:
    """An offset (``1200``), an ISO time (``2026-11-01T00:00:00Z``) or ``now``."""
    t = text.strip()
    if t == "now":
        return "now"
    if t.lstrip("-").isdigit():
        n = int(t)
        if n < 0:
            raise ValueError(f"offset {n} is negative")
        return n
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an offset, an ISO time nor 'now'") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"stir-replay-{uuid.uuid4().hex[:8]}",
                     "enable.auto.commit": False, "fetch.queue.backoff.ms": 10, "enable.partition.eof": False,
                     "auto.offset.reset": "earliest"})  # fmt: skip


def resolve(c: Consumer, topic: str, partitions: list[int], start: Bound, end: Bound) -> dict[int, tuple[int, int]]:
    """partition -> [start offset, end offset) for the bounds."""

    def at(p: int, bound: Bound, low: int, high: int) -> int:
        if bound == "now":
            return high
        if isinstance(bound, int):
            return min(max(bound, low), high)
        assert isinstance(bound, datetime)
        ms = int(bound.timestamp() * 1000)
        found = c.offsets_for_times([TopicPartition(topic, p, ms)], timeout=10)[0]
        return high if found.offset < 0 else max(found.offset, low)

    out = {}
    for p in partitions:
        low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        out[p] = (at(p, start, low, high), at(p, end, low, high))
    return out


@dataclass
class DumpResult:
    records: int = 0
    rows: int = 0
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0


def read_range(c: Consumer, topic: str, ranges: dict[int, tuple[int, int]], key: bytes | None,
               on_record: Callable[[int], None] = lambda _n: None,
               header: tuple[str, bytes] | None = None) -> Iterator[Record]:  # fmt: skip
    todo = {p: r for p, r in ranges.items() if r[0] < r[1]}
    if not todo:
        return
    c.assign([TopicPartition(topic, p, start) for p, (start, _) in todo.items()])
    while todo:
        msgs = c.consume(10_000, 0.1)
        if not msgs:
            positions = c.position([TopicPartition(topic, p) for p in todo])
            for tp in positions:
                if tp.offset >= todo[tp.partition][1]:
                    todo.pop(tp.partition)
            continue
        for m in msgs:
            if m.error() is not None:
                raise KafkaException(m.error())
            p, off = m.partition(), m.offset()
            if p not in todo or off is None or off >= todo[p][1]:
                continue
            if off + 1 >= todo[p][1]:
                todo.pop(p)
            if key is not None and m.key() != key:
                continue
            ts_type, ts = m.timestamp()
            hdrs: list[tuple[str, bytes | None]] = [
                (str(h[0]), h[1] if isinstance(h[1], bytes) or h[1] is None else str(h[1]).encode())
                for h in (m.headers() or [])
                if h[0] != LOAD_HEADER  # the loader's own provenance: a dump of a loaded topic equals its source
            ]
            if header is not None and header not in hdrs:
                continue
            on_record(1)
            yield Record(m.key(), m.value(), ts, hdrs, p, off, m.topic() or topic, ts_type)


def by_event_time(records: Iterator[Record], start: datetime | None, end: datetime | None) -> Iterator[Record]:
    """The rows whose ``event_time`` lies in ``[start, end)``: a record keeps only those (a multi-row message may
    shrink), and one with none, or a tombstone, is left out. Record timestamps are arrival times; this is how a
    range of event time (a lost day) is cut out of a topic."""
    low = -(2**63) if start is None else int(start.timestamp() * 1000)
    high = 2**63 if end is None else int(end.timestamp() * 1000)
    for r in records:
        if r.value is None:
            continue
        kept = []
        for row in r.value.split(b"\n"):
            try:
                t = orjson.loads(row).get("event_time") if row.strip() else None
            except (orjson.JSONDecodeError, AttributeError):
                t = None
            if isinstance(t, int) and low <= t < high:
                kept.append(row)
        if kept:
            r.value = b"\n".join(kept)
            yield r


def dump(bootstrap: str, topic: str, out: Path, start: Bound, end: Bound, *, partition: int | None = None,
         key: str | None = None, header: tuple[str, bytes] | None = None, fmt: str = "avro", jsonl: Jsonl = Jsonl(),
         event_from: datetime | None = None, event_to: datetime | None = None,
         on_total: Callable[[int], None] = lambda _n: None, on_record: Callable[[int], None] = lambda _n: None,
         ) -> DumpResult:  # fmt: skip
    t0 = time.perf_counter()
    c = consumer(bootstrap)
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            raise ValueError(f"topic {topic!r} does not exist")
        partitions = sorted(md.partitions) if partition is None else [partition]
        if partition is not None and partition not in md.partitions:
            raise ValueError(f"topic {topic!r} has no partition {partition}")
        result = DumpResult(ranges=resolve(c, topic, partitions, start, end))
        on_total(sum(max(e - s, 0) for s, e in result.ranges.values()))
        records = read_range(c, topic, result.ranges, key.encode() if key is not None else None, on_record, header)
        if event_from is not None or event_to is not None:
            records = by_event_time(records, event_from, event_to)
        tmp = out.with_name(out.name + ".part")
        if fmt == "avro":
            meta = {"stir.topic": topic, **contract_metadata(topic), "stir.source.partitions": str(len(md.partitions)),
                    "stir.range": " ".join(f"{p}:{s}-{e}" for p, (s, e) in sorted(result.ranges.items()))}  # fmt: skip
            with open(tmp, "wb") as fh:
                result.records = write_avro(fh, records, meta)
        else:
            try:
                with open(tmp, "w", encoding="utf-8") as fh:
                    for r in records:
                        result.records += 1
                        for line in jsonl_lines(r, jsonl):
                            fh.write(line + "\n")
                            result.rows += 1
            except ValueError:
                tmp.unlink(missing_ok=True)  # never a file that lost records on the way
                raise
        tmp.replace(out)
    finally:
        c.close()
    result.seconds = time.perf_counter() - t0
    return result
