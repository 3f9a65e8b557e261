"""Decoding a Kafka message's JSON lines into validated rows, and building the contracted output lines."""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from schemas.bounds import MAX_LABEL

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
OUTPUT_NS = uuid.UUID("5c0b7a52-3f1e-4d55-9b7a-8f6b1f0e2a11")


class Skip(Exception):
    """A well-formed line that carries nothing to apply (e.g. a CDC heartbeat): neither a row nor a dead letter."""


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
        except Skip:
            continue
        except ValidationError as e:
            bad.append(BadRecord(line, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())))
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            bad.append(BadRecord(line, f"{type(e).__name__}: {e}"))
    return good, bad


def model_parser(model: type[M]) -> Callable[[bytes], M]:
    return model.model_validate_json


def json_row(line: bytes) -> dict[str, Any]:
    """A JSON object from one UTF-8 line (json.loads alone would guess UTF-16/32 from NUL bytes)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (so not JSON): {e}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError("a row must be a JSON object")
    return obj


def row_with(*keys: str) -> Callable[[bytes], dict[str, Any]]:
    """A parser of JSON objects that must hold ``keys`` (the first one missing is the reason)."""

    def parse(line: bytes) -> dict[str, Any]:
        row = json_row(line)
        for k in keys:
            if k not in row:
                raise KeyError(k)
        return row

    return parse


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


_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def contract_line(model: type[BaseModel], topic: str, row: dict[str, Any], key: str, event_time: int, agent: str
                  ) -> bytes:  # fmt: skip
    """The contracted JSON line: envelope + row, fields in the contract's order (tests validate every
    output row against its model; here only the order is enforced, to keep the hot path cheap)."""
    fields = _FIELDS.get(model)
    if fields is None:
        fields = _FIELDS[model] = tuple(model.model_fields)
    full = {**envelope(topic, key, row["version"], event_time, f"streams.{agent}"), **row}
    return dumps(checked({f: full[f] for f in fields}, topic))


class OutputRejected(ValueError):
    """An output row would break its contract's wire types (the runtime dead-letters the input behind it)."""


_INT64 = (-(2**63), 2**63 - 1)
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def checked(row: dict[str, Any], topic: str) -> dict[str, Any]:
    """The row, when every value fits its wire type: integers within Int64, floats finite, strings short label
    text without control characters. (A cheap check on the hot path; the property tests validate every output
    row against its full model.)"""
    for k, v in row.items():
        t = type(v)
        if (t is int and not _INT64[0] <= v <= _INT64[1]) or (t is float and not math.isfinite(v)):
            raise OutputRejected(f"{topic}: {k} = {v!r} does not fit its type")
        if t is str and (len(v) > MAX_LABEL or _CONTROL.search(v) is not None):
            raise OutputRejected(f"{topic}: {k} is over {MAX_LABEL} characters or holds a control character")
    return row
