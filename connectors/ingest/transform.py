"""Pure functions of the ingest API: split a request body into items, validate each against its contract,
and group the accepted ones into multi-row Kafka messages by target partition. No I/O here.

An item is a JSON object with a ``type`` (the event type = its topic, e.g. ``social.profile.snapshot``)
and the event's fields. A rejected item keeps its original bytes for the dead-letter topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from connectors.ingest.tokens import Principal
from schemas.bounds import DEFAULT_FUTURE_SKEW_MS
from schemas.kafka import partition_for
from schemas.registry import INGEST_TYPES, contracts

_decoder = json.JSONDecoder()
_WS = " \t\r\n"


@dataclass(frozen=True)
class Accepted:
    index: int
    topic: str
    key: str
    line: bytes
    event_id: str


@dataclass(frozen=True)
class Rejected:
    index: int
    code: str  # invalid_json | not_an_object | missing_type | unknown_type | forbidden | invalid | oversized | too_deep
    reason: str
    original: bytes
    event_type: str | None = None


@dataclass
class BatchOutcome:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class OutMessage:
    topic: str
    partition: int
    key: bytes
    value: bytes
    indexes: tuple[int, ...]


class BodyError(ValueError):
    """The body as a whole is not a JSON object, array or JSON lines."""


def split_body(body: bytes, content_type: str) -> list[bytes]:
    """The original bytes of each item. JSON lines: one item per non-empty line (a bad line is an item
    that will be rejected on its own). JSON: one object, or an array of objects."""
    if "ndjson" in content_type or "jsonlines" in content_type or "x-json-stream" in content_type:
        return [line for line in body.split(b"\n") if line.strip()]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BodyError(f"body is not UTF-8: {e}") from None
    pos = _skip_ws(text, 0)
    if pos == len(text):
        raise BodyError("empty body")
    try:
        if text[pos] != "[":
            end = _item_end(text, pos)
            if _skip_ws(text, end) != len(text):
                raise BodyError(f"trailing data after the JSON value at char {end}")
            return [text[pos:end].encode()]
        items: list[bytes] = []
        pos = _skip_ws(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            return items
        while True:
            end = _item_end(text, pos)
            items.append(text[pos:end].encode())
            pos = _skip_ws(text, end)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "]" and _skip_ws(text, pos + 1) == len(text):
                return items
            raise BodyError(f"malformed JSON array at char {pos}")
    except json.JSONDecodeError as e:
        raise BodyError(f"invalid JSON: {e}") from None


def _item_end(text: str, pos: int) -> int:
    """Where the JSON value at ``pos`` ends. A value the decoder refuses for its limits (nesting deeper than the
    recursion limit, an integer of more than 4300 digits) is still one item: its end is found by scanning, and
    ``transform_item`` refuses it on its own, so the other items of the batch are kept."""
    try:
        return _decoder.raw_decode(text, pos)[1]
    except (RecursionError, ValueError) as e:
        if isinstance(e, json.JSONDecodeError):
            raise
        return _scan_value_end(text, pos)


def _scan_value_end(text: str, pos: int) -> int:
    """The end of the object or array at ``pos`` by bracket depth outside strings (the slow path for values the
    decoder cannot take); a scalar ends at the next ``,``, ``]`` or whitespace."""
    if text[pos] not in "[{":
        end = pos
        while end < len(text) and text[end] not in ",]" + _WS:
            end += 1
        return end
    depth, i, in_string = 0, pos, False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise BodyError(f"unterminated JSON value at char {pos}")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _number(text: str) -> float | int:
    """A JSON number written with a fraction or an exponent. An integral one (``1.0``, ``1e3``) is the integer
    it equals: JSON has one number type, and JSON Schema (the API's OpenAPI document) counts it an integer."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def _errors(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def transform_item(
    raw: bytes, index: int, principal: Principal, now_ms: int, max_event_bytes: int,
    max_future_skew_ms: int = DEFAULT_FUTURE_SKEW_MS,
) -> Accepted | Rejected:  # fmt: skip
    """One item, accepted or refused with its reason; never raises."""
    if len(raw) > max_event_bytes:
        return Rejected(index, "oversized", f"event is {len(raw)} bytes; the limit is {max_event_bytes}", raw)
    try:
        obj = json.loads(raw, parse_float=_number)
    except RecursionError:
        return Rejected(index, "too_deep", "JSON nested too deeply", raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return Rejected(index, "invalid_json", f"invalid JSON: {e}", raw)
    except ValueError as e:  # e.g. an integer beyond Python's digit limit
        return Rejected(index, "invalid_json", f"invalid JSON: {e}", raw)
    if not isinstance(obj, dict):
        return Rejected(index, "not_an_object", "an event must be a JSON object", raw)
    event_type = obj.pop("type", None)
    if not isinstance(event_type, str):
        return Rejected(index, "missing_type", "missing 'type' (the event type, e.g. social.profile.snapshot)", raw)
    if event_type not in INGEST_TYPES:
        return Rejected(index, "unknown_type", f"unknown event type {event_type[:100]!r}", raw)
    if not principal.may_write(event_type):
        return Rejected(index, "forbidden", f"token {principal.name!r} may not write {event_type}", raw, event_type)
    contract = contracts()[event_type]
    obj["ingested_at"] = now_ms
    try:
        event = contract.model.model_validate(obj, context={"now_ms": now_ms, "max_future_skew_ms": max_future_skew_ms})
    except ValidationError as e:
        return Rejected(index, "invalid", _errors(e), raw, event_type)
    except RecursionError:
        return Rejected(index, "too_deep", "JSON nested too deeply", raw, event_type)
    return Accepted(index, event_type, contract.key_of(event), contract.encode(event), event.event_id)


def transform_batch(items: list[bytes], principal: Principal, now_ms: int, max_event_bytes: int,
                    max_future_skew_ms: int = DEFAULT_FUTURE_SKEW_MS) -> BatchOutcome:  # fmt: skip
    out = BatchOutcome()
    for i, raw in enumerate(items):
        r = transform_item(raw, i, principal, now_ms, max_event_bytes, max_future_skew_ms)
        (out.accepted if isinstance(r, Accepted) else out.rejected).append(r)  # type: ignore[arg-type]
    return out


def group_messages(
    accepted: list[Accepted], partitions_of: Callable[[str], int], max_rows: int, max_bytes: int
) -> list[OutMessage]:
    """One multi-row message (JSON lines) per topic and target partition, split at max_rows/max_bytes.

    Each event goes to the partition its key maps to under Kafka's default partitioner, and keeps its
    order within the batch. The message key is its first event's key, which maps to the same partition.
    """
    groups: dict[tuple[str, int], list[Accepted]] = {}
    for a in accepted:
        key = a.key.encode()
        groups.setdefault((a.topic, partition_for(key, partitions_of(a.topic))), []).append(a)
    out = []
    for (topic, partition), rows in groups.items():
        chunk: list[Accepted] = []
        size = 0
        for a in rows:
            if chunk and (len(chunk) >= max_rows or size + len(a.line) + 1 > max_bytes):
                out.append(_message(topic, partition, chunk))
                chunk, size = [], 0
            chunk.append(a)
            size += len(a.line) + 1
        if chunk:
            out.append(_message(topic, partition, chunk))
    return out


def _message(topic: str, partition: int, rows: list[Accepted]) -> OutMessage:
    return OutMessage(
        topic, partition, rows[0].key.encode(), b"\n".join(a.line for a in rows), tuple(a.index for a in rows)
    )
