"""The ingest API on a real broker: contracted bytes on Kafka, per-item answers, DLQ for every rejection."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from connectors.ingest_client import IngestClient
from deploy.local.process import wait_until
from schemas.registry import AVRO_DIR, INGEST_TYPES
from tests.support.ingest_server import ingest_server
from tests.support.kafka import consume, create_topic, delete_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(stack, tmp_path_factory):
    prefix = f"t{uuid.uuid4().hex[:8]}."
    with ingest_server(tmp_path_factory.mktemp("ingest"), prefix) as srv:
        yield srv
    delete_topics(stack.bootstrap, [prefix + t for t in (*INGEST_TYPES, "dlq.ingest")])


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sample(event_type: str, i: int) -> dict[str, Any]:
    base = {"type": event_type, "event_id": str(uuid.uuid4()), "event_time": now_ms() - 60_000, "source": "it"}
    bodies: dict[str, dict[str, Any]] = {
        "social.profile.snapshot": {"profile_id": f"p{i}", "platform": "instagram", "handle": f"h{i}",
                                    "followers": 1000 + i, "category": "café", "language": None},
        "social.post.snapshot": {"profile_id": f"p{i}", "post_id": f"x{i}", "platform": "youtube", "post_type": "short",
                                 "published_at": now_ms() - 86_400_000, "likes": i, "comments": 2, "plays": 10 * i},
        "social.profile.audience": {"profile_id": f"p{i}", "platform": "instagram", "gender": {"female": 55.5 + i},
                                    "cities": {"São Paulo": 12.0}, "authenticity": 80.0},
        "social.profile.insight": {"profile_id": f"p{i}", "platform": "youtube",
                                   "day": (now_ms() // 86_400_000 - 1) * 86_400_000, "content_type": "video",
                                   "reach": 10 * i, "impressions": 20 * i},
        "social.scrape.status": {"request_id": f"r{i}", "post_id": f"x{i}", "flow": "yt_post", "status": "FAILED",
                                 "error": "429 from upstream"},
        "activity.auth.attempt": {"tenant_id": "t1", "user_id": f"u{i}", "success": False, "ip": "10.0.0.1"},
        "activity.session.event": {"session_id": f"s{i}", "tenant_id": "t1", "user_id": f"u{i}", "kind": "start"},
        "activity.feature.use": {"tenant_id": "t1", "user_id": f"u{i}", "feature": "export", "action": "csv"},
        "activity.api.call": {"tenant_id": "t1", "endpoint": "/v1/profiles/{id}", "method": "GET",
                              "status_code": 200, "latency_ms": 12.5 + i},
    }  # fmt: skip
    return {**base, **bodies[event_type]}


def contracted_line(event: dict[str, Any], ingested_at: int) -> bytes:
    """The oracle: fields in .avsc order, defaults from the .avsc, compact JSON. Built from the schema file,
    not from the code under test."""
    schema = json.loads((AVRO_DIR / f"{event['type']}.avsc").read_text())
    row = {}
    for f in schema["fields"]:
        row[f["name"]] = event[f["name"]] if f["name"] in event else f.get("default")
    row["ingested_at"] = ingested_at
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()


def post(server, body: bytes, token: str | None = "default", content_type: str = "application/json") -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {server.token if token == 'default' else token}"
    return httpx.post(f"{server.url}/v1/events", content=body, headers=headers, timeout=30)


def test_valid_events_arrive_byte_for_byte_as_contracted(stack, server, uid):
    events = [sample(t, i) for i in range(6) for t in INGEST_TYPES]
    t_before = now_ms()
    r = post(server, json.dumps(events).encode())
    t_after = now_ms()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == len(events) and body["rejected"] == 0
    assert [x["event_id"] for x in body["results"]] == [e["event_id"] for e in events]

    by_id = {e["event_id"]: e for e in events}
    found: dict[str, bytes] = {}
    probe_topic = f"probe.{uid}"
    create_topic(stack.bootstrap, probe_topic, partitions=4)  # as many partitions as the event topics
    probe = Producer({"bootstrap.servers": stack.bootstrap, "partitioner": "murmur2_random"})
    for t in INGEST_TYPES:
        want = [e for e in events if e["type"] == t]
        msgs = consume(stack.bootstrap, server.prefix + t, f"g-{uid}-{t}", count=0, rows=len(want), timeout_s=30)
        rows: list[tuple[Any, bytes]] = []
        for m in msgs:
            assert dict(m.headers())["content-type"] == b"application/x-ndjson"
            for line in m.value().split(b"\n"):
                rows.append((m, line))
        for m, line in rows:
            row = json.loads(line)
            if row["event_id"] not in by_id:
                continue
            assert t_before <= row["ingested_at"] <= t_after
            assert line == contracted_line(by_id[row["event_id"]], row["ingested_at"])
            found[row["event_id"]] = line
            # the partition is the one librdkafka's murmur2_random (Java's default) picks for the row's key
            key_field = json.loads((AVRO_DIR / f"{t}.avsc").read_text())["stir.key"]
            probe.produce(probe_topic, key=row[key_field].encode(), value=m.partition().to_bytes(1, "big"))
    probe.flush(10)
    # read the probes back: each landed on the partition the ingest API chose for the same key
    probes = consume(stack.bootstrap, probe_topic, f"g-probe-{uid}", count=len(found), timeout_s=30)
    assert len(probes) == len(found)
    assert all(p.partition() == int.from_bytes(p.value(), "big") for p in probes)
    assert set(found) == set(by_id)
    delete_topics(stack.bootstrap, [probe_topic])


def _dlq(stack, server, uid: str, count: int) -> list[Any]:
    return consume(stack.bootstrap, server.prefix + "dlq.ingest", f"g-dlq-{uid}", count=count, timeout_s=30)


def test_bad_input_matrix(stack, server, uid):
    good = sample("social.profile.snapshot", 1)
    wrong_type = {**sample("social.post.snapshot", 2), "likes": "many"}
    missing = {k: v for k, v in sample("activity.api.call", 3).items() if k != "endpoint"}
    unknown = {**sample("social.profile.snapshot", 4), "type": "social.profile.deleted"}
    tag = uuid.uuid4().hex  # marks this test's DLQ records
    expectations: list[tuple[str, bytes, int, set[str]]] = []

    def check(
        name: str, body: bytes, status: int, codes: set[str], token: str | None = "default", ct="application/json"
    ):
        r = post(server, body, token, ct)
        assert r.status_code == status, f"{name}: {r.status_code} {r.text[:300]}"
        expectations.append((name, body, status, codes))
        return r

    check("invalid json", b'{"type": "social.profile.snapshot", ' + tag.encode(), 422, {"invalid_json"})
    r = check("wrong types", json.dumps({**wrong_type, "source": tag}).encode(), 422, {"invalid"})
    assert "likes" in r.json()["results"][0]["reason"]
    r = check("missing field", json.dumps({**missing, "source": tag}).encode(), 422, {"invalid"})
    assert "endpoint" in r.json()["results"][0]["reason"]
    r = check("unknown type", json.dumps({**unknown, "source": tag}).encode(), 422, {"unknown_type"})
    assert "social.profile.deleted" in r.json()["results"][0]["reason"]
    big = json.dumps({**good, "source": tag, "handle": "x" * (9 * 1024 * 1024)}).encode()
    check("oversized body", big, 413, {"oversized"})
    big_item = json.dumps({**sample("social.profile.snapshot", 5), "source": tag, "handle": "y" * 300_000}).encode()
    r = check("oversized item", big_item, 422, {"oversized"})
    huge_item = json.dumps({**sample("social.profile.snapshot", 7), "source": tag, "handle": "z" * 2_000_000})
    r = check("item over the broker's record limit", f"[{huge_item}]".encode(), 422, {"oversized"})
    many = [json.dumps({**sample("activity.api.call", 20 + i), "source": tag}) for i in range(10_001)]
    r = check("too many items", f"[{','.join(many)}]".encode(), 413, {"too_many_items"})
    assert "10001 items" in r.json()["error"]
    r = check("empty batch", b"[]", 200, set())
    assert r.json() == {"accepted": 0, "rejected": 0, "results": []}
    check("absent token", json.dumps(good).encode(), 401, set(), token=None)
    check("bad token", json.dumps(good).encode(), 401, set(), token="stir_not-a-token")
    auth = {**sample("activity.auth.attempt", 6), "source": tag}
    check("forbidden scope", json.dumps(auth).encode(), 403, {"forbidden"}, token=server.scraper_token)

    # mixed batch as JSON lines: the valid items are accepted and on Kafka, the bad ones dead-lettered
    valid = [{**sample("social.post.snapshot", 10 + i), "source": tag} for i in range(3)]
    mixed_lines = [
        json.dumps(valid[0]).encode(),
        b"{not json " + tag.encode(),
        json.dumps(valid[1]).encode(),
        json.dumps({**wrong_type, "event_id": str(uuid.uuid4()), "source": tag}).encode(),
        json.dumps(valid[2]).encode(),
    ]
    r = check("mixed batch", b"\n".join(mixed_lines), 200, {"invalid_json", "invalid"}, ct="application/x-ndjson")
    res = r.json()
    assert (res["accepted"], res["rejected"]) == (3, 2)
    assert [x["status"] for x in res["results"]] == ["accepted", "rejected", "accepted", "rejected", "accepted"]

    # every rejected item is in the DLQ with its reason and original bytes (401s never reach it)
    # invalid json, types, missing, unknown, oversized x3, too many items, forbidden, mixed
    dlq_expected = 1 + 1 + 1 + 1 + 3 + 1 + 1 + 2
    msgs = [m for m in _dlq(stack, server, uid, dlq_expected) if tag.encode() in (m.value() or b"")]
    assert len(msgs) == dlq_expected, [dict(m.headers())["dlq.code"] for m in msgs]
    codes = sorted(dict(m.headers())["dlq.code"].decode() for m in msgs)
    assert codes == sorted(["invalid_json", "invalid", "invalid", "unknown_type", "oversized", "oversized",
                            "oversized", "too_many_items", "forbidden", "invalid_json", "invalid"])  # fmt: skip
    originals = {m.value() for m in msgs}
    assert mixed_lines[1] in originals and mixed_lines[3] in originals and big_item in originals
    assert big[:65536] in originals  # an oversized body keeps its first 64 KiB
    truncated = [m for m in msgs if dict(m.headers()).get("dlq.truncated") == b"true"]  # what the broker can hold
    assert sorted(len(m.value()) for m in truncated) == [512 * 1024] * 2
    assert sorted(int(dict(m.headers())["dlq.original_bytes"]) for m in truncated) == sorted(
        [len(huge_item), len(",".join(many)) + 2])  # fmt: skip
    for m in msgs:
        h = dict(m.headers())
        assert h["dlq.reason"] and h["dlq.source"] == b"ingest"

    ids = {v["event_id"] for v in valid}
    got = consume(stack.bootstrap, server.prefix + "social.post.snapshot", f"g-mixed-{uid}", count=100, timeout_s=10)
    rows = [json.loads(x) for m in got for x in m.value().split(b"\n")]
    assert ids <= {row["event_id"] for row in rows}


def test_client_sdk_batches_and_counts(stack, server):
    with IngestClient(server.url, server.token, source="sdk-test", batch_size=50) as client:
        for i in range(120):
            client.send("activity.feature.use", {"tenant_id": "t9", "user_id": f"u{i}", "feature": "search"})
        client.send("activity.feature.use", {"tenant_id": "t9", "user_id": "u", "feature": ""})  # invalid: empty
    assert client.stats.accepted == 120
    assert len(client.stats.rejected) == 1 and "feature" in client.stats.rejected[0]["reason"]
    assert client.stats.requests == 3


def in_queue(srv: Any) -> float:
    """Messages in the ingest API's producer queue (its /metrics gauge)."""
    text = httpx.get(f"{srv.url}/metrics").text
    return float(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("stir_ingest_producer_queue ")))


def test_backpressure_answers_429(stack, tmp_path, uid):
    # linger keeps the first request's messages in the producer queue; a high-water mark of 0 then refuses others
    prefix = f"bp{uid}."
    try:
        with ingest_server(tmp_path, prefix, queue_high_watermark="0", linger_ms="1500") as srv:
            events = [sample("activity.api.call", i) for i in range(50)]
            first: dict[str, httpx.Response] = {}
            t = threading.Thread(target=lambda: first.setdefault("r", post(srv, json.dumps(events).encode())))
            t.start()

            # wait until the first request's messages sit in the producer queue, then a second one is refused
            queued = wait_until(lambda: in_queue(srv) > 0 or not t.is_alive(), 10)
            assert queued and t.is_alive(), "first request never queued"
            second = post(srv, json.dumps([sample("activity.api.call", 99)]).encode())
            assert second.status_code == 429 and second.headers["Retry-After"] == "1"
            t.join()
            assert first["r"].status_code == 200 and first["r"].json()["accepted"] == 50
    finally:
        delete_topics(stack.bootstrap, [prefix + t for t in (*INGEST_TYPES, "dlq.ingest")])


def test_one_token_cannot_take_every_connection(stack, tmp_path, uid):
    """``STIR_INGEST_TOKEN_MAX_CONCURRENT``: a token's requests beyond the limit wait for a 429; another token is
    served meanwhile."""
    prefix = f"tc{uid}."
    try:
        with ingest_server(tmp_path, prefix, token_max_concurrent="1", linger_ms="1500") as srv:
            first: dict[str, httpx.Response] = {}
            body = json.dumps([sample("social.profile.snapshot", 1)]).encode()
            t = threading.Thread(target=lambda: first.setdefault("r", post(srv, body)))
            t.start()
            queued = wait_until(lambda: in_queue(srv) > 0 or not t.is_alive(), 10)  # held by the linger
            assert queued and t.is_alive(), "the first request did not stay in flight"
            second = post(srv, body)
            other = post(srv, body, token=srv.scraper_token)
            t.join()
            assert second.status_code == 429 and "in flight" in second.json()["error"]
            assert other.status_code == 200 and first["r"].status_code == 200
            assert post(srv, body).status_code == 200  # the slot is free again
    finally:
        delete_topics(stack.bootstrap, [prefix + t for t in (*INGEST_TYPES, "dlq.ingest")])


def test_healthz_and_metrics(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}  # healthy or not, nothing more
    text = httpx.get(f"{server.url}/metrics").text
    for name in ("stir_ingest_events_total", "stir_ingest_produce_seconds", "stir_ingest_producer_queue",
                 "stir_ingest_rejections_total"):  # fmt: skip
        assert name in text
