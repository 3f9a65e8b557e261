"""Pure ingest functions: partitioner, body splitting, per-item validation, grouping into messages."""

from __future__ import annotations

import json
import uuid

import pytest

from connectors.ingest.tokens import Principal, TokenStore
from connectors.ingest.transform import BodyError, group_messages, split_body, transform_batch, transform_item
from schemas.kafka import murmur2, partition_for

ALL = Principal("test", ("*",))
NOW = 1_790_000_000_000


# Kafka's own test vectors for Utils.murmur2 (signed 32-bit)
@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536),
     (b"a-little-bit-longer-string", -1486304829), (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
     (b"abc", 479470107)],
)  # fmt: skip
def test_murmur2_matches_kafka(data, expected):
    h = murmur2(data)
    assert (h - 2**32 if h >= 2**31 else h) == expected


def test_partition_for_is_in_range_and_spreads():
    parts = [partition_for(str(i).encode(), 4) for i in range(1000)]
    assert set(parts) == {0, 1, 2, 3}
    assert min(parts.count(p) for p in range(4)) > 200


def profile(**kw):
    ev = {"type": "social.profile.snapshot", "event_id": str(uuid.uuid4()), "event_time": NOW - 1000,
          "source": "t", "profile_id": "7", "platform": "youtube", "handle": "h", "followers": 10}  # fmt: skip
    ev.update(kw)
    return ev


def test_split_json_keeps_original_bytes_of_each_item():
    a, b = b'{"x": 1,  "y": [1, 2]}', b'{"z":"\xc3\xa9"}'
    assert split_body(b" [ " + a + b" ,\n" + b + b" ] ", "application/json") == [a, b]
    assert split_body(a, "application/json") == [a]
    assert split_body(b"[]", "application/json") == []


@pytest.mark.parametrize("body", [b"", b"{", b"[1,", b"[1 2]", b'{"a":1} x', b"\xff\xfe"])
def test_split_json_refuses_malformed_bodies(body):
    with pytest.raises(BodyError):
        split_body(body, "application/json")


def test_split_ndjson_keeps_bad_lines_as_items():
    assert split_body(b'{"a":1}\n\n{bad\n{"b":2}\n', "application/x-ndjson") == [b'{"a":1}', b"{bad", b'{"b":2}']


def test_valid_item_becomes_the_contracted_line():
    ev = profile(category="music")
    r = transform_item(json.dumps(ev).encode(), 0, ALL, NOW, 10_000)
    assert r.topic == "social.profile.snapshot" and r.key == "7" and r.event_id == ev["event_id"]
    row = json.loads(r.line)
    assert row["ingested_at"] == NOW and "type" not in row and row["category"] == "music"


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (b"{nope", "invalid_json", "invalid JSON"),
        (b"[1]", "not_an_object", "JSON object"),
        (json.dumps({k: v for k, v in profile().items() if k != "type"}).encode(), "missing_type", "type"),
        (json.dumps(profile(type="social.unknown.thing")).encode(), "unknown_type", "social.unknown.thing"),
        (json.dumps(profile(type="metrics.profile.rolling")).encode(), "unknown_type", "metrics.profile.rolling"),
        (json.dumps(profile(followers="ten")).encode(), "invalid", "followers"),
        (json.dumps({k: v for k, v in profile().items() if k != "handle"}).encode(), "invalid", "handle"),
        (json.dumps(profile(padding="x" * 600)).encode(), "oversized", "limit"),
    ],
)
def test_bad_items_are_rejected_with_reason_and_original_bytes(raw, code, fragment):
    r = transform_item(raw, 3, ALL, NOW, 500)
    assert (r.code, r.index, r.original) == (code, 3, raw)
    assert fragment in r.reason


def test_scopes_forbid_other_event_types():
    scraper = Principal("scraper", ("social.*",))
    ok = transform_item(json.dumps(profile()).encode(), 0, scraper, NOW, 10_000)
    auth = {"type": "activity.auth.attempt", "event_id": str(uuid.uuid4()), "event_time": NOW, "source": "t",
            "tenant_id": "1", "user_id": "u", "success": False}  # fmt: skip
    no = transform_item(json.dumps(auth).encode(), 1, scraper, NOW, 10_000)
    assert ok.topic == "social.profile.snapshot"
    assert no.code == "forbidden" and "scraper" in no.reason


def test_grouping_by_partition_keeps_per_key_order_and_limits():
    items = [json.dumps(profile(profile_id=str(i % 9), followers=i)).encode() for i in range(200)]
    out = transform_batch(items, ALL, NOW, 10_000)
    assert len(out.accepted) == 200 and not out.rejected
    msgs = group_messages(out.accepted, lambda _t: 4, max_rows=30, max_bytes=1_000_000)
    assert sorted(i for m in msgs for i in m.indexes) == list(range(200))
    seen: dict[str, list[int]] = {}
    for m in msgs:
        assert len(m.indexes) <= 30
        rows = [json.loads(x) for x in m.value.split(b"\n")]
        assert partition_for(m.key, 4) == m.partition
        for row in rows:
            assert partition_for(row["profile_id"].encode(), 4) == m.partition
            seen.setdefault(row["profile_id"], []).append(row["followers"])
    assert all(v == sorted(v) for v in seen.values())
    small = group_messages(out.accepted, lambda _t: 4, max_rows=1000, max_bytes=2000)
    assert all(len(m.value) <= 2000 for m in small)


def test_token_store_hashes_and_revokes(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    token = store.create("scraper", ["social.*"])
    assert token not in (tmp_path / "tokens.json").read_text()
    p = store.authenticate(f"Bearer {token}")
    assert p is not None and p.may_write("social.post.snapshot") and not p.may_write("activity.api.call")
    assert store.authenticate("Bearer wrong") is None and store.authenticate(None) is None
    assert store.authenticate(token) is None  # scheme required
    store.revoke("scraper")
    assert store.authenticate(f"Bearer {token}") is None


def test_tokens_carry_creation_and_expiry_and_the_file_is_private_from_creation(tmp_path):
    import stat
    import time

    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o755)  # made wide by something else first: repaired
    secrets.chmod(0o755)
    store = TokenStore(secrets / "tokens.json")
    lasting = store.create("scraper", ["social.*"], expires_in_s=3600)
    gone = store.create("old", ["*"], expires_in_s=0)
    forever = store.create("app", ["*"])
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert stat.S_IMODE((secrets / "tokens.json").stat().st_mode) == 0o600
    # no temporary file left behind; the edit lock (empty) stays, private too
    assert not [p for p in secrets.iterdir() if p.name not in ("tokens.json", "tokens.json.lock")]
    assert stat.S_IMODE((secrets / "tokens.json.lock").stat().st_mode) == 0o600
    saved = {t["name"]: t for t in json.loads((secrets / "tokens.json").read_text())["tokens"]}
    now = time.time() * 1000
    assert abs(saved["scraper"]["created_at_ms"] - now) < 60_000
    assert abs(saved["scraper"]["expires_at_ms"] - now - 3_600_000) < 60_000
    assert saved["app"]["expires_at_ms"] is None
    assert store.authenticate(f"Bearer {lasting}") is not None
    assert store.authenticate(f"Bearer {forever}") is not None
    assert store.authenticate(f"Bearer {gone}") is None  # expired: refused like an unknown token
