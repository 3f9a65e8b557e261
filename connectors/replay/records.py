"""Replay files: Avro object container files (fastavro) that keep every record's key, value, headers,
timestamp, partition and offset, with the topic's contract in the file metadata; or text lines in the
console tools' convention: ``[headers<separator>]key<separator>value``, one row per line, a null key or value (a
tombstone) written as ``NULL_MARKER``. Kafka's console tools read and write the same lines with
``kafka-console-consumer --property print.key=true --property null.literal=<NULL>`` and
``kafka-console-producer --property parse.key=true --property null.marker=<NULL>`` (an empty key or value stays
empty, a literal ``null`` stays a string); with headers add ``print.headers=true`` / ``parse.headers=true``
(``name:value`` pairs joined by ``,``; a record without headers is ``<NULL>``, or ``NO_HEADERS`` as the consumer
prints it). What the lines cannot carry (a separator inside a key or a header, bytes that are not UTF-8) is
refused, never written half; timestamps and partitions need the Avro format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import fastavro

NULL_MARKER = "<NULL>"  # a null key or value in JSONL (the console tools' null.literal / null.marker)
NO_HEADERS = "NO_HEADERS"  # what the console consumer prints for a record without headers
HEADER_SEPARATOR, HEADER_KEY_SEPARATOR = ",", ":"  # the console tools' headers.separator / headers.key.separator
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


@dataclass(frozen=True)
class Jsonl:
    """The line format: the key separator, and whether each line starts with the record's headers."""

    separator: str = "\t"
    headers: bool = False

    def __post_init__(self) -> None:
        bad = ("\n", "\r", HEADER_SEPARATOR, HEADER_KEY_SEPARATOR) if self.headers else ("\n", "\r")
        if not self.separator or any(c in self.separator for c in bad) or self.separator == NULL_MARKER:
            raise ValueError(f"the key separator {self.separator!r} cannot split these lines: it must be non-empty "
                             f"and hold none of {bad!r}")  # fmt: skip


def _text(what: str, raw: bytes, record: Record, forbidden: tuple[str, ...]) -> str:
    where = f"record {record.topic}/{record.partition}@{record.offset}"
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ValueError(f"{where}: its {what} is not UTF-8 text; dump it with --format avro") from None
    if text == NULL_MARKER or any(c in text for c in forbidden):
        raise ValueError(f"{where}: its {what} {text!r} cannot be told apart in a line (it is {NULL_MARKER!r} or "
                         f"holds one of {forbidden!r}); dump it with --format avro")  # fmt: skip
    return text


def _headers_text(record: Record, fmt: Jsonl, rows: int) -> str:
    """The record's headers; a message split into ``rows`` lines says ``rows: 1`` on each (the ingest API's row
    count header), which is what each line's record holds."""
    if not record.headers:
        return NULL_MARKER
    seps = (HEADER_SEPARATOR, fmt.separator, "\n", "\r")
    return HEADER_SEPARATOR.join(
        _text("header name", k.encode(), record, (HEADER_KEY_SEPARATOR, *seps)) + HEADER_KEY_SEPARATOR
        + (NULL_MARKER if v is None else _text(f"header {k!r}", b"1" if k == "rows" and rows > 1 else v, record, seps))
        for k, v in record.headers
    )  # fmt: skip


def jsonl_lines(record: Record, fmt: Jsonl) -> Iterator[str]:
    """One console line per row of the message: ``[headers<sep>]key<sep>row`` (a multi-row message becomes
    several single-row messages, which the pipeline reads the same way); a tombstone is ``key<sep><NULL>``, an
    empty value ``key<sep>``."""
    sep = fmt.separator
    key = NULL_MARKER if record.key is None else _text("key", record.key, record, (sep, "\n", "\r"))
    if record.value is None or record.value == b"":
        lead = _headers_text(record, fmt, 1) + sep if fmt.headers else ""
        yield f"{lead}{key}{sep}{NULL_MARKER if record.value is None else ''}"
        return
    rows = [row for row in record.value.split(b"\n") if row.strip()] or [record.value]  # a blank value as it is
    lead = _headers_text(record, fmt, len(rows)) + sep if fmt.headers else ""
    for row in rows:
        yield lead + key + sep + _text("value", row, record, ("\n", "\r"))


def _parse_headers(text: str, where: str) -> list[tuple[str, bytes | None]]:
    if text in (NULL_MARKER, NO_HEADERS):
        return []
    headers: list[tuple[str, bytes | None]] = []
    for pair in text.split(HEADER_SEPARATOR):
        name, colon, value = pair.partition(HEADER_KEY_SEPARATOR)
        if not colon:
            raise ValueError(f"{where}: header {pair!r} has no {HEADER_KEY_SEPARATOR!r} (name:value pairs joined "
                             f"by {HEADER_SEPARATOR!r}, or {NULL_MARKER} for none)")  # fmt: skip
        headers.append((name, None if value == NULL_MARKER else value.encode()))
    return headers


def read_jsonl(path: Path, fmt: Jsonl) -> Iterator[Record]:
    sep, fields = fmt.separator, 3 if fmt.headers else 2
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split(sep, fields - 1)
            if len(parts) < fields:
                want = "headers, key and value" if fmt.headers else "key and value"
                raise ValueError(f"{path}:{n}: not {want} separated by {sep!r} (the console producer's parse.key"
                                 f"{'/parse.headers' if fmt.headers else ''}=true format)")  # fmt: skip
            headers = _parse_headers(parts[0], f"{path}:{n}") if fmt.headers else []
            key, value = parts[-2], parts[-1]
            yield Record(None if key == NULL_MARKER else key.encode(), None if value == NULL_MARKER else value.encode(),
                         headers=headers, offset=n)  # fmt: skip


def detect_format(path: Path) -> str:
    with open(path, "rb") as fh:
        return "avro" if fh.read(4) == b"Obj\x01" else "jsonl"


def contract_metadata(topic: str) -> dict[str, str]:
    """The contract of ``topic`` (matched by its suffix, so prefixed test topics find theirs)."""
    from schemas.registry import contract_of_topic

    c = contract_of_topic(topic)
    return {"stir.contract.topic": c.topic, "stir.contract": json.dumps(c.schema)} if c else {}
