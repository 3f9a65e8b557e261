"""Pure pieces of the loader and the replay tool."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from connectors.replay.dump import parse_bound
from connectors.replay.load import Checkpoint, validator
from serving_loader.loader import refuse_reason
from serving_loader.specs import SPECS, Spec, cols


def test_refuse_reason_guards_empty_and_shrunken_upstreams():
    spec = Spec(name="t", query="-", columns=cols("a bigint"), indexes=(("a",),), interval_s=1, min_row_ratio=0.5)
    assert refuse_reason(spec, 0, None) is None  # first load may be empty
    assert refuse_reason(spec, 0, 0) is None
    assert "0 rows" in (refuse_reason(spec, 0, 10) or "")
    assert "below 50%" in (refuse_reason(spec, 4, 10) or "")
    assert refuse_reason(spec, 5, 10) is None


def test_specs_have_unique_names_and_unique_first_indexes_on_their_columns():
    assert len({s.name for s in SPECS}) == len(SPECS)
    for s in SPECS:
        assert s.indexes and all(c in s.column_names for ix in s.indexes for c in ix), s.name


def test_checkpoint_keeps_a_contiguous_prefix_and_what_is_beyond(tmp_path: Path):
    src = tmp_path / "f.avro"
    src.write_bytes(b"x")
    ck = Checkpoint(tmp_path / "f.ck.json", src, "t")
    for i in (0, 1, 3, 5, 2):
        ck.ack(i)
    assert ck.done_through == 3 and ck.beyond == {5}
    assert [i for i in range(7) if not ck.done(i)] == [4, 6]
    ck.save()
    again = Checkpoint(tmp_path / "f.ck.json", src, "t")
    assert again.load() and (again.done_through, again.beyond) == (3, {5})
    other = Checkpoint(tmp_path / "f.ck.json", src, "other-topic")
    with pytest.raises(ValueError, match="another file or topic"):
        other.load()


def test_validator_uses_the_topic_contract_by_suffix():
    check = validator("prefix.social.scrape.status")
    good = {"event_id": "0d6e9f0a-2b1c-4c7e-8a55-6f2f3b9c1d42", "event_time": 1_700_000_000_000, "ingested_at": None,
            "source": "s", "schema_version": 1, "request_id": "r", "post_id": "p", "flow": "f", "status": "COMPLETE",
            "attempt": 1, "error": None}  # fmt: skip
    assert check(json.dumps(good).encode()) is None
    assert "status" in (check(json.dumps({**good, "status": "DONE"}).encode()) or "")
    assert "row 2" in (check(json.dumps(good).encode() + b"\n{}") or "")
    assert "not JSON" in (check(b"{nope") or "")
    no_contract = validator("cdc.public.profiles")
    assert no_contract(b'{"op": "c"}') is None and "not a JSON object" in (no_contract(b"[1]") or "")


def test_validator_refuses_a_file_of_another_or_unknown_contract():
    assert validator("x.social.scrape.status", "social.scrape.status")(b"{nope") is not None  # same: row-checked
    with pytest.raises(ValueError, match=r"holds social\.post\.snapshot records"):
        validator("x.social.scrape.status", "social.post.snapshot")
    with pytest.raises(ValueError, match=r"holds social\.post\.snapshot records"):
        validator("cdc.public.profiles", "social.post.snapshot")
    with pytest.raises(ValueError, match="does not exist"):
        validator("x.social.scrape.status", "social.nothing.here")
    deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert validator("cdc.public.profiles")(deep) is not None  # refused with a reason, not raised


def test_parse_bound():
    assert parse_bound("now") == "now" and parse_bound("42") == 42
    bound = parse_bound("2026-11-01T00:00:00Z")
    assert isinstance(bound, datetime) and bound.isoformat() == "2026-11-01T00:00:00+00:00"
    with pytest.raises(ValueError):
        parse_bound("yesterday")
    with pytest.raises(ValueError):
        parse_bound("-3")
