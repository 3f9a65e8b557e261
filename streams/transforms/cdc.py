"""Debezium change events as the agents read them: every shape Debezium can put on a CDC topic is handled on
purpose, and nothing else gets through.

- ``c`` / ``r`` / ``u`` / ``d`` row changes are returned, normalized: ``source.lsn`` an int, ``source.ts_ms``
  present, the image the change stands for (``after``, or ``before`` for a delete) a JSON object.
- The ``schema`` + ``payload`` envelope (``value.converter.schemas.enable=true``) is unwrapped.
- Events that carry no row change are skipped (``Skip``): a tombstone (null payload), a logical decoding
  message (``op: "m"``), a heartbeat (``{"ts_ms": ...}``), transaction metadata (``status: BEGIN/END``).
- A truncate (``op: "t"``) is refused with its reason: the connector excludes truncates
  (``skipped.operations=t``), because a truncate carries no keys to remove downstream; delete rows instead.
- ``__debezium_unavailable_value`` (an unchanged TOASTed column) is never taken for data: the column is filled
  from the ``before`` image when that holds it (REPLICA IDENTITY FULL), and otherwise left out of the image and
  named in ``_unavailable``, so that the transforms keep the value they had.
- Anything else raises ``ValueError`` with the true reason (the runtime dead-letters the line).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from schemas.bounds import DEFAULT_FUTURE_SKEW_MS, MAX_EPOCH_MS, MIN_EPOCH_MS, Label
from streams.transforms.records import BadRecord, Skip, decode_lines, json_row

UNAVAILABLE = "__debezium_unavailable_value"
ROW_OPS = {"c": "insert", "r": "snapshot read", "u": "update", "d": "delete"}


def cdc_row(line: bytes) -> dict[str, Any]:
    """One line of a CDC topic as a normalized change event, ``Skip`` or ``ValueError``."""
    row = json_row(line)
    if set(row) == {"schema", "payload"}:
        row = row["payload"]
        if row is None:
            raise Skip("tombstone")
        if not isinstance(row, dict):
            raise ValueError("schema+payload envelope whose payload is not a JSON object")
    op = row.get("op")
    if op is None:
        if row.get("status") in ("BEGIN", "END") and "id" in row:
            raise Skip("transaction metadata")
        if "ts_ms" in row and set(row) <= {"ts_ms", "source"}:
            raise Skip("heartbeat")
        raise ValueError(f"not a Debezium change event: no 'op' (fields: {', '.join(sorted(row)[:12])})")
    if op == "m":
        raise Skip("logical decoding message")
    if op == "t":
        table = row.get("source", {}).get("table") if isinstance(row.get("source"), dict) else None
        raise ValueError(f"truncate of {table or 'a table'} is not applied: truncates carry no keys; the connector "
                         "skips them (skipped.operations=t); delete the rows instead")  # fmt: skip
    if op not in ROW_OPS:
        raise ValueError(f"unknown Debezium op {op!r}")
    source = row.get("source")
    if not isinstance(source, dict):
        raise ValueError("change event without a 'source' block")
    lsn = source.get("lsn")
    if isinstance(lsn, str) and lsn.isdigit():
        lsn = int(lsn)
    if type(lsn) is not int or lsn < 0:
        raise ValueError(f"change event without a valid source.lsn ({lsn!r})")
    ts = source.get("ts_ms", row.get("ts_ms"))
    if type(ts) is not int:
        raise ValueError(f"change event without a valid source.ts_ms ({ts!r})")
    side = "before" if op == "d" else "after"
    image = row.get(side)
    if not isinstance(image, dict):
        raise ValueError(f"{ROW_OPS[op]} without its '{side}' image")
    before_image = row.get("before")
    before: dict[str, Any] = before_image if isinstance(before_image, dict) else {}
    missing = []
    for col, value in list(image.items()):
        if value == UNAVAILABLE:
            if before.get(col, UNAVAILABLE) != UNAVAILABLE:
                image[col] = before[col]
            else:
                del image[col]
                missing.append(col)
    out = {**row, "source": {**source, "lsn": lsn, "ts_ms": ts}}
    if missing:
        out["_unavailable"] = missing
    return out


def decode_cdc(value: bytes | None) -> tuple[list[dict[str, Any]], list[BadRecord]]:
    """A CDC message's changes and dead letters; a tombstone (null value: Kafka's compaction marker after a
    delete) carries nothing and is skipped."""
    return ([], []) if value is None else decode_lines(value, cdc_row)


class Deletable(Protocol):
    deleted: bool
    cdc_lsn: int


class Counting(Protocol):
    duplicates: int


def apply_deletes(state: Deletable, rows: list[dict[str, Any]], out: Counting) -> list[dict[str, Any]]:
    """An entity's own CDC rows (``cdc.public.posts`` for a post, ...): a delete marks it deleted, an insert or
    update after it brings it back; newest LSN wins, an LSN seen already is a re-delivery. Returns the rows that
    changed ``deleted``."""
    flipped = []
    for row in rows:
        lsn = int(row["source"]["lsn"])
        if lsn <= state.cdc_lsn:
            out.duplicates += 1
            continue
        state.cdc_lsn = lsn
        if (row["op"] == "d") != state.deleted:
            state.deleted = not state.deleted
            flipped.append(row)
    return flipped


def row_image(row: dict[str, Any]) -> dict[str, Any]:
    """The row a normalized change stands for: ``after``, or ``before`` for a delete."""
    return dict(row["before"] if row["op"] == "d" else row["after"])


def ms(value: Any) -> int | None:
    """A Debezium timestamp as epoch ms: ISO-8601 text (timestamptz), or epoch micros/millis (the adaptive
    time precision modes; a value above 10^14 is micros)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int):
        out = value // 1000 if value > 10**14 else value
    elif isinstance(value, str):
        out = int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    else:
        raise ValueError(f"not a timestamp: {value!r}"[:200])
    if not MIN_EPOCH_MS <= out <= MAX_EPOCH_MS:
        raise ValueError(f"timestamp {value!r} is outside 2000-01-01 .. 2100-01-01")
    return out


def past_ms(value: Any, row: dict[str, Any]) -> int | None:
    """A timestamp of something that has happened (``updated_at``, ``decided_at``, ...): at most the clock skew
    past the change's commit time, so that no row dated in the future can move "now" for its entity."""
    out = ms(value)
    commit = int(row["source"]["ts_ms"])
    if out is not None and out > commit + DEFAULT_FUTURE_SKEW_MS:
        raise ValueError(f"timestamp {value!r} lies after the change was committed ({commit})")
    return out


_LABEL: TypeAdapter[str] = TypeAdapter(Label)


def label(img: dict[str, Any], column: str, default: Any = None) -> Any:
    """A text column of a CDC image, held to the contracts' label bounds (a NUL-free, short string: what the
    output rows and the serving indexes hold); ``default`` when the image lacks it. An OLTP ``text`` value
    beyond the bounds raises ``ValueError`` naming the column, so the change is dead-lettered and the entity
    keeps its previous value."""
    value = img.get(column, default)
    if value is None or value is default:
        return value
    try:
        return _LABEL.validate_python(value, strict=True)
    except ValidationError as e:
        raise ValueError(f"column {column!r}: {e.errors(include_url=False)[0]['msg']}") from None
