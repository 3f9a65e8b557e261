"""Every shape Debezium puts on a CDC topic, decoded on purpose (streams/transforms/cdc.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.transforms.cdc import UNAVAILABLE, cdc_row, ms, row_image
from streams.transforms.records import decode_lines

SOURCE = {"lsn": 100, "ts_ms": 1_790_000_000_000, "table": "profiles", "schema": "public"}


def change(op: str = "u", **kw: object) -> dict[str, object]:
    row: dict[str, object] = {"op": op, "source": dict(SOURCE), "ts_ms": 1_790_000_000_100}
    row |= {"before": {"id": 1, "category": "old"}, "after": {"id": 1, "category": "new"}}
    row.update(kw)
    return row


def line(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_row_changes_come_back_normalized():
    for op in "crud":
        r = cdc_row(line(change(op)))
        assert r["op"] == op and r["source"]["lsn"] == 100
        assert row_image(r) == ({"id": 1, "category": "old"} if op == "d" else {"id": 1, "category": "new"})
    assert cdc_row(line(change(source={**SOURCE, "lsn": "123"})))["source"]["lsn"] == 123


def test_the_schema_payload_envelope_is_unwrapped():
    wrapped = {"schema": {"type": "struct", "fields": []}, "payload": change("c")}
    assert cdc_row(line(wrapped))["after"] == {"id": 1, "category": "new"}


@pytest.mark.parametrize(
    "obj",
    [{"schema": {"type": "struct"}, "payload": None},  # tombstone in the envelope
     {"op": "m", "source": SOURCE, "message": {"prefix": "x", "content": "eA=="}},  # logical decoding message
     {"ts_ms": 1_790_000_000_000},  # heartbeat
     {"status": "BEGIN", "id": "571:53195829", "ts_ms": 1, "event_count": None},  # transaction metadata
     {"status": "END", "id": "571:53195829", "ts_ms": 1, "event_count": 2, "data_collections": []}],
)  # fmt: skip
def test_events_without_a_row_change_are_skipped(obj):
    good, bad = decode_lines(line(obj) + b"\n" + line(change("c")), cdc_row)
    assert len(good) == 1 and bad == []


@pytest.mark.parametrize(
    ("obj", "reason"),
    [({"op": "t", "source": SOURCE, "ts_ms": 1}, "truncate of profiles is not applied"),
     (change("u", source={"ts_ms": 1, "table": "profiles"}), "source.lsn"),
     (change("u", source={**SOURCE, "lsn": True}), "source.lsn"),
     (change("u", source=None), "'source' block"),
     (change("u", after=None), "without its 'after' image"),
     (change("d", before=None), "without its 'before' image"),
     (change("x"), "unknown Debezium op 'x'"),
     ({"id": 1, "category": "no envelope"}, "no 'op'"),
     ([1, 2], "a row must be a JSON object")],
)  # fmt: skip
def test_other_shapes_are_refused_with_a_true_reason(obj, reason):
    good, bad = decode_lines(line(obj), cdc_row)
    assert good == [] and len(bad) == 1 and reason in bad[0].reason, bad[0].reason


@pytest.mark.parametrize("value", [b"\xff\xfe\x00garbage", b"\x00{\x00}", b"\xc3", b"{}", b"not json"])
def test_a_non_json_value_is_refused_as_not_json(value):
    _, bad = decode_lines(value, cdc_row)
    assert len(bad) == 1 and "utf-16" not in bad[0].reason.lower(), bad
    assert "JSON" in bad[0].reason or "no 'op'" in bad[0].reason, bad[0].reason


def test_unavailable_values_are_never_taken_for_data():
    full = cdc_row(line(change("u", after={"id": 1, "category": UNAVAILABLE})))
    assert full["after"]["category"] == "old"  # from the before image (REPLICA IDENTITY FULL)
    bare = cdc_row(line(change("u", before=None, after={"id": 1, "category": UNAVAILABLE})))
    assert "category" not in bare["after"] and bare["_unavailable"] == ["category"]


def test_debezium_timestamps():
    assert ms(None) is None and ms(1_790_000_000_000) == 1_790_000_000_000
    assert ms(1_790_000_000_000_123) == 1_790_000_000_000  # micros (adaptive_time_microseconds)
    assert ms("2026-09-21T14:13:20Z") == 1_790_000_000_000
    with pytest.raises(ValueError):
        ms("yesterday")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(["op", "source", "before", "after", "ts_ms", "payload"]), value=json_values)
def test_any_change_event_is_a_change_a_skip_or_a_reason(field, value):
    obj = change("u")
    if field == "payload":
        obj = {"schema": {}, "payload": value}
    else:
        obj[field] = value
    good, bad = decode_lines(line(obj), cdc_row)
    assert len(good) + len(bad) <= 1
    for r in good:
        assert r["op"] in "crud" and type(r["source"]["lsn"]) is int and isinstance(row_image(r), dict)
    for b in bad:
        assert b.reason


def test_a_tombstone_is_skipped():
    from streams.transforms.cdc import decode_cdc

    assert decode_cdc(None) == ([], [])
    good, bad = decode_cdc(line(change("d")))
    assert len(good) == 1 and bad == []
