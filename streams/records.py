"""Decoding a Kafka message's JSON lines into validated rows, and the rows' output envelope."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
OUTPUT_NS = uuid.UUID("5c0b7a52-3f1e-4d55-9b7a-8f6b1f0e2a11")


@dataclass(frozen=True)
class BadRecord:
    line: bytes
    reason: str


def decode_lines(value: bytes | None, parse: Callable[[bytes], T]) -> tuple[list[T], list[BadRecord]]:
    """Every non-empty line parsed by ``parse``; the ones that fail come back with their reason."""
    good: list[T] = []
    bad: list[BadRecord] = []
    if not value:
        return good, [BadRecord(b"", "empty message")] if value is None else []
    for line in value.split(b"\n"):
        if not line.strip():
            continue
        try:
            good.append(parse(line))
        except ValidationError as e:
            bad.append(BadRecord(line, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())))
        except (ValueError, KeyError, TypeError) as e:
            bad.append(BadRecord(line, f"{type(e).__name__}: {e}"))
    return good, bad


def model_parser(model: type[M]) -> Callable[[bytes], M]:
    return model.model_validate_json


_NS_BYTES = OUTPUT_NS.bytes


def output_id(topic: str, key: str, version: int) -> str:
    """Deterministic event_id of an output row: the same state gives the same id on a replay. This is
    ``str(uuid.uuid5(OUTPUT_NS, f"{topic}|{key}|{version}"))`` (a unit test holds it to that), computed without
    building a ``UUID`` object: it runs once per output row."""
    h = bytearray(hashlib.sha1(_NS_BYTES + f"{topic}|{key}|{version}".encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def envelope(topic: str, key: str, version: int, event_time: int, source: str) -> dict[str, Any]:
    return {
        "event_id": output_id(topic, key, version),
        "event_time": event_time,
        "ingested_at": None,
        "source": source,
        "schema_version": 1,
    }


def dumps(row: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (orjson: the agents write one line per output row)."""
    return orjson.dumps(row)
