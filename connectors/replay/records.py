"""Replay files: Avro object container files (fastavro) that keep every record's key, value, headers,
timestamp, partition and offset, with the topic's contract in the file metadata; or text lines in the
console tools' convention: ``key<separator>value``, one row per line, a null key or value (a tombstone) written as
``NULL_MARKER``. Kafka's console tools read and write the same lines with
``kafka-console-consumer --property print.key=true --property null.literal=<NULL>`` and
``kafka-console-producer --property parse.key=true --property null.marker=<NULL>`` (an empty key or value stays
empty, a literal ``null`` stays a string). Headers, timestamps and partitions need the Avro format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import fastavro

NULL_MARKER = "<NULL>"  # a null key or value in JSONL (the console tools' null.literal / null.marker)
LOAD_HEADER = "stir.replay"  # the loader's provenance header (<load id>:<index>); dumps leave it out

RECORD_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "KafkaRecord",
    "namespace": "stir.replay",
    "fields": [
        {"name": "topic", "type": "string"},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {"name": "timestamp", "type": "long"},
        {"name": "timestamp_type", "type": "int"},
        {"name": "key", "type": ["null", "bytes"]},
        {"name": "value", "type": ["null", "bytes"]},
        {"name": "headers", "type": {"type": "array", "items": {
            "type": "record", "name": "Header",
            "fields": [{"name": "key", "type": "string"}, {"name": "value", "type": ["null", "bytes"]}]}}},
    ],
}  # fmt: skip
PARSED = fastavro.parse_schema(RECORD_SCHEMA)


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    partition: int = -1
    offset: int = -1
    topic: str = ""
    timestamp_type: int = 1  # 1 CreateTime, 2 LogAppendTime (confluent-kafka's TIMESTAMP_* values)

    def to_avro(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset,
                "timestamp": self.timestamp, "timestamp_type": self.timestamp_type, "key": self.key,
                "value": self.value, "headers": [{"key": k, "value": v} for k, v in self.headers]}  # fmt: skip

    @classmethod
    def from_avro(cls, d: dict[str, Any]) -> Record:
        return cls(d["key"], d["value"], d["timestamp"], [(h["key"], h["value"]) for h in d["headers"]],
                   d["partition"], d["offset"], d["topic"], d["timestamp_type"])  # fmt: skip


def write_avro(out: IO[bytes], records: Iterable[Record], metadata: dict[str, str]) -> int:
    n = 0

    def gen() -> Iterator[dict[str, Any]]:
        nonlocal n
        for r in records:
            n += 1
            yield r.to_avro()

    fastavro.writer(out, PARSED, gen(), codec="deflate", metadata=metadata, sync_interval=256 * 1024)
    return n


def read_avro(path: Path) -> tuple[dict[str, str], Iterator[Record]]:
    fh = open(path, "rb")  # noqa: SIM115 - closed when the iterator ends
    reader = fastavro.reader(fh)
    meta = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in reader.metadata.items()}

    def gen() -> Iterator[Record]:
        try:
            for d in reader:
                yield Record.from_avro(d)  # type: ignore[arg-type]
        finally:
            fh.close()

    return meta, gen()


def jsonl_lines(record: Record, separator: str) -> Iterator[str]:
    """One console line per row of the message: ``key<sep>row`` (a multi-row message becomes several
    single-row messages, which the pipeline reads the same way); a tombstone is ``key<sep><NULL>``, an empty
    value ``key<sep>``."""
    key = NULL_MARKER if record.key is None else record.key.decode()
    if record.value is None or record.value == b"":
        yield f"{key}{separator}{NULL_MARKER if record.value is None else ''}"
        return
    for row in record.value.split(b"\n"):
        if row.strip():
            yield f"{key}{separator}{row.decode()}"


def read_jsonl(path: Path, separator: str) -> Iterator[Record]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            if separator not in line:
                raise ValueError(f"{path}:{n}: no key separator {separator!r} (console producer parse.key=true format)")
            key, value = line.split(separator, 1)
            yield Record(None if key == NULL_MARKER else key.encode(), None if value == NULL_MARKER else value.encode(),
                         offset=n)  # fmt: skip


def detect_format(path: Path) -> str:
    with open(path, "rb") as fh:
        return "avro" if fh.read(4) == b"Obj\x01" else "jsonl"


def contract_metadata(topic: str) -> dict[str, str]:
    """The contract of ``topic`` (matched by its suffix, so prefixed test topics find theirs)."""
    from schemas.registry import contract_of_topic

    c = contract_of_topic(topic)
    return {"stir.contract.topic": c.topic, "stir.contract": json.dumps(c.schema)} if c else {}
