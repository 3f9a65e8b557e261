"""The ingest API's pure side against poison: every item is accepted or refused with a reason, a refused item
never costs the batch its valid items, and nothing raises (a raise would be a 500 for the whole batch)."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.ingest.tokens import Principal
from connectors.ingest.transform import Accepted, Rejected, split_body, transform_batch, transform_item
from schemas.registry import INGEST_TYPES, contracts

ALL = Principal("test", ("*",))
NOW = 1_790_000_000_000


def profile(**kw: object) -> dict[str, object]:
    ev = {"type": "social.profile.snapshot", "event_id": str(uuid.uuid4()), "event_time": NOW - 1000,
          "source": "t", "profile_id": "7", "platform": "youtube", "handle": "h", "followers": 10}  # fmt: skip
    ev.update(kw)
    return ev


def api_call(**kw: object) -> dict[str, object]:
    ev = {"type": "activity.api.call", "event_id": str(uuid.uuid4()), "event_time": NOW - 1000, "source": "t",
          "tenant_id": "t1", "endpoint": "/x", "method": "GET", "status_code": 200, "latency_ms": 12.5}  # fmt: skip
    ev.update(kw)
    return ev


POISON = {
    "followers at Int64 max": (json.dumps(profile(followers=2**63 - 1)), "followers"),
    "negative followers": (json.dumps(profile(followers=-1)), "followers"),
    "event dated 9999": (json.dumps(profile(event_time=253402300799000)), "event_time"),
    "event a day ahead": (json.dumps(profile(event_time=NOW + 86_400_000)), "in the future"),
    "event before 2000": (json.dumps(profile(event_time=1000)), "event_time"),
    "NUL in a category": (json.dumps(profile(category="beauty\u0000")), "U+0000"),
    "6400-character category": (json.dumps(profile(category="x" * 6400)), "category"),
    "lone surrogate": (json.dumps(profile()).replace('"handle": "h"', '"handle": "\\ud800"'), "handle"),
    "NaN latency": (json.dumps(api_call(latency_ms=float("nan"))), "latency_ms"),
    "Infinity latency": (json.dumps(api_call(latency_ms=float("inf"))), "latency_ms"),
    "negative latency": (json.dumps(api_call(latency_ms=-3.0)), "latency_ms"),
    "status code 0": (json.dumps(api_call(status_code=0)), "status_code"),
    "5000-digit integer": (json.dumps(profile())[:-1] + ', "following": ' + "9" * 5000 + "}", "digits"),
    "100k-deep nesting": (
        '{"type": "social.profile.snapshot", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("name", sorted(POISON))
def test_poison_item_is_refused_with_its_reason(name):
    raw, fragment = POISON[name]
    r = transform_item(raw.encode("utf-8", "surrogatepass"), 0, ALL, NOW, 1 << 20)
    assert isinstance(r, Rejected), name
    assert fragment in r.reason, r.reason
    r.reason.encode()  # the reason itself is valid UTF-8 (it goes into a Kafka header)


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_a_batch_keeps_its_valid_items_around_every_poison(content_type):
    good = [json.dumps(profile(profile_id=str(i))) for i in range(3)]
    bad = [raw for raw, _ in POISON.values()]
    items_text = [good[0], *bad, good[1], good[2]]
    if content_type == "application/json":
        body = ("[" + ",\n".join(items_text) + "]").encode("utf-8", "surrogatepass")
    else:
        body = "\n".join(items_text).encode("utf-8", "surrogatepass")
    items = split_body(body, content_type)
    assert len(items) == len(items_text)
    out = transform_batch(items, ALL, NOW, 1 << 20)
    assert [a.index for a in out.accepted] == [0, len(bad) + 1, len(bad) + 2]
    assert len(out.rejected) == len(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)


def _mutated(draw: st.DrawFn) -> dict[str, object]:
    """A valid event of some ingest type with one field replaced by an arbitrary JSON value (or removed)."""
    topic = draw(st.sampled_from(INGEST_TYPES))
    model = contracts()[topic].model
    base = {"profile_id": "p", "post_id": "q", "platform": "instagram", "handle": "h", "followers": 1,
            "post_type": "reel", "published_at": NOW - 5000, "likes": 1, "comments": 0, "request_id": "r",
            "flow": "f", "status": "COMPLETE", "tenant_id": "t", "user_id": "u", "success": True, "session_id": "s",
            "kind": "start", "feature": "x", "endpoint": "/e", "method": "GET", "status_code": 200,
            "latency_ms": 1.0}  # fmt: skip
    ev: dict[str, object] = {"type": topic, "event_id": str(uuid.uuid4()), "event_time": NOW - 1, "source": "t"}
    ev.update({k: v for k, v in base.items() if k in model.model_fields})
    name = draw(st.sampled_from(sorted(ev)))
    if draw(st.booleans()):
        ev.pop(name)
    else:
        ev[name] = draw(json_values)
    return ev


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_item_is_accepted_valid_or_refused_with_a_reason(data):
    ev = data.draw(st.composite(_mutated)())
    raw = json.dumps(ev, allow_nan=True).encode("utf-8", "surrogatepass")
    r = transform_item(raw, 0, ALL, NOW, 1 << 20)
    if isinstance(r, Accepted):
        model = contracts()[r.topic].model
        again = model.model_validate_json(r.line)  # the accepted line holds every bound
        assert again.event_id == r.event_id
        json.loads(r.line)
    else:
        assert r.reason and r.code


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_refused_without_raising(raw):
    r = transform_item(raw, 0, ALL, NOW, 1 << 20)
    assert isinstance(r, Rejected | Accepted)
    if isinstance(r, Rejected):
        r.reason.encode()


def test_an_integral_number_is_an_integer_however_it_is_written():
    """JSON has one number type and JSON Schema counts 1.0 and 1e3 integers, so the API does too (the OpenAPI
    document says "integer"); a fraction is still refused where an integer is due."""
    raw = '{"type": "social.profile.snapshot", "event_id": "%s", "event_time": %s, "source": "t", "profile_id": "7", ' \
          '"platform": "youtube", "handle": "h", "followers": 1e3, "schema_version": 1.0}'  # fmt: skip
    got = transform_item((raw % (uuid.uuid4(), f"{NOW - 1000}.0")).encode(), 0, ALL, NOW, 10**6)
    assert isinstance(got, Accepted), got
    assert json.loads(got.line)["followers"] == 1000 and json.loads(got.line)["schema_version"] == 1
    half = transform_item(json.dumps(profile(followers=10.5)).encode(), 0, ALL, NOW, 10**6)
    assert isinstance(half, Rejected) and "followers" in half.reason
    latency = transform_item(json.dumps(api_call(latency_ms=12.0)).encode(), 0, ALL, NOW, 10**6)
    assert isinstance(latency, Accepted) and isinstance(json.loads(latency.line)["latency_ms"], float)
