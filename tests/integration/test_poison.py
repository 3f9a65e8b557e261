"""Poison on real services, mid-stream: values that once crash-looped the worker, froze serving tables or took the
current leaderboard over are posted to the ingest API beside valid events, and every odd shape Debezium (or a
stranger) can put on a CDC topic is produced there. The worker never restarts, every other profile keeps
updating, each bad item is in a dead-letter topic with its reason, the serving tables keep refreshing and the
current leaderboard stays the real current month."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer

from deploy.local.pipeline import Pipeline
from schemas.kafka import end_offsets
from serving_loader.specs import SPECS
from tests.support.harness import caught_up, ingest_token, pipeline_env, serving_schema, worker_restarts

pytestmark = pytest.mark.integration


def _event(kind: str, now: int, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "event_id": str(uuid.uuid4()), "event_time": now, "source": "poison"}
    if kind == "social.profile.snapshot":
        base |= {"platform": "instagram", "handle": "h", "followers": 1000}
    elif kind == "social.post.snapshot":
        base |= {"post_id": "poison-post", "profile_id": "9001", "platform": "instagram", "post_type": "reel",
                 "published_at": now - 3_600_000, "likes": 1, "comments": 1}  # fmt: skip
    elif kind == "activity.auth.attempt":
        base |= {"tenant_id": "t1", "user_id": "u1", "success": False}
    elif kind == "activity.api.call":
        base |= {"tenant_id": "t1", "endpoint": "/x", "method": "GET", "status_code": 200, "latency_ms": 5.0}
    return base | kw


def _post(url: str, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    req = urllib.request.Request(url + "/v1/events", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _drain(bootstrap: str, topic: str, n: int) -> list[tuple[bytes, dict[str, str]]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chk-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got: list[tuple[bytes, dict[str, str]]] = []
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            headers: list[tuple[str, bytes | None]] = m.headers() or []  # type: ignore[assignment]
            got.append((m.value() or b"", {k: (v or b"").decode() for k, v in headers}))
    c.close()
    return got


def _summary(dsn: str, schema: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return {r["profile_id"]: r for r in cur.execute(f"SELECT * FROM {schema}.profile_summary").fetchall()}


def test_poison_mid_stream_stops_nothing(stack, fresh_db, uid, tmp_path):
    prefix = f"px{uid}."
    schema = serving_schema(prefix)
    env = pipeline_env(prefix, tmp_path / "state", fresh_db)
    token = ingest_token(env)
    pipeline = Pipeline(tmp_path / "run", env)
    try:
        pipeline.up()
        worker = pipeline.process("worker").running()
        assert worker is not None
        now = int(time.time() * 1000)
        status, _ = _post(pipeline.ingest_url, token, json.dumps(
            [_event("social.profile.snapshot", now - 60_000, profile_id=p, category="food") for p in ("9001", "9002")]
        ).encode())  # fmt: skip
        assert status == 200

        # the ingest side of the poison, in one batch with a valid event (issue items 1, 4, 5, 7 and 8)
        good = _event("social.profile.snapshot", now - 30_000, profile_id="9003")
        snap = "social.profile.snapshot"
        poison = [
            json.dumps(_event(snap, now - 20_000, profile_id="9001", followers=2**63 - 1)),
            json.dumps(_event(snap, now - 10_000, profile_id="9001", followers=-(2**63))),
            json.dumps(_event(snap, 253402300799000, profile_id="9002")),  # dated 9999
            json.dumps(_event("activity.auth.attempt", 253402300799000)),  # a login dated 9999
            json.dumps(_event(snap, now, profile_id="9002", category="beauty\u0000")),
            json.dumps(_event(snap, now, profile_id="9002", category="c" * 6400)),
            json.dumps(_event(snap, now, profile_id="9002", followers=-5)),
            json.dumps(_event("social.post.snapshot", now, likes=-1)),
            json.dumps(_event("activity.api.call", now, status_code=-1)),
            json.dumps(_event("activity.api.call", now, latency_ms=-3.0)),
            json.dumps(_event("activity.api.call", now, latency_ms=float("nan"))),  # NaN: Python writes it
            json.dumps(_event(snap, now, profile_id="9002")).replace('"handle": "h"', '"handle": "\\ud800"'),
            '{"type": "social.profile.snapshot", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
            json.dumps(_event(snap, now))[:-1] + ', "following": ' + "9" * 5000 + "}",
        ]
        body = ("[" + ",".join([json.dumps(good), *poison]) + "]").encode()
        status, answer = _post(pipeline.ingest_url, token, body)
        assert status == 200 and answer["accepted"] == 1 and answer["rejected"] == len(poison), answer
        assert all(r["status"] == "rejected" and r["reason"] for r in answer["results"][1:])

        # the CDC side (issue item 2): odd Debezium shapes and strangers' bytes on the profiles CDC topic
        cdc = f"{prefix}cdc.public.profiles"
        src = {"lsn": 5, "ts_ms": now, "table": "profiles", "schema": "public"}
        envelope = {"schema": {"type": "struct"}, "payload": {
            "op": "u", "before": None, "after": {"id": 9001, "handle": "h", "category": "from-envelope"},
            "source": {**src, "lsn": 10}, "ts_ms": now}}  # fmt: skip
        unavailable = {"op": "u", "before": None, "source": {**src, "lsn": 11}, "ts_ms": now,
                       "after": {"id": 9002, "handle": "h", "category": "__debezium_unavailable_value"}}  # fmt: skip
        shapes: list[tuple[str, bytes | None]] = [
            ("9001", json.dumps(envelope).encode()),  # applied: unwrapped
            ("9002", json.dumps(unavailable).encode()),  # applied, category kept
            ("9001", json.dumps({"op": "t", "source": src, "ts_ms": now}).encode()),  # refused: truncate
            ("9001", json.dumps({"op": "u", "after": {"id": 9001}, "source": {"ts_ms": now}}).encode()),  # no lsn
            ("9001", b"\x00{\x00}"),  # not JSON (json.loads alone would read it as UTF-16 "{}")
            ("9001", json.dumps({"op": "m", "source": src, "message": {"prefix": "p"}}).encode()),  # skipped
            ("9001", json.dumps({"ts_ms": now}).encode()),  # a heartbeat: skipped
            ("9001", None),  # a tombstone: skipped
        ]
        p = Producer({"bootstrap.servers": stack.bootstrap, "partitioner": "murmur2_random"})
        for key, value in shapes:
            p.produce(cdc, key=key.encode(), value=value)
        assert p.flush(30) == 0

        # after the poison: a new profile still arrives
        status, _ = _post(pipeline.ingest_url, token,
                          json.dumps([_event(snap, now, profile_id="9004")]).encode())  # fmt: skip
        assert status == 200
        caught_up(stack.bootstrap, prefix, fresh_db, specs=tuple(s.name for s in SPECS), run_dir=pipeline.run_dir)

        # the same process, and its Faust process never restarted either
        assert pipeline.process("worker").running() == worker and not worker_restarts(pipeline.run_dir)
        rows = _summary(fresh_db, schema)
        assert {"9001", "9002", "9003", "9004"} <= set(rows)
        assert rows["9001"]["followers"] == 1000 and rows["9001"]["category"] == "from-envelope"
        assert rows["9002"]["category"] == "food"  # the unavailable value was not stored
        with psycopg.connect(fresh_db) as conn:
            months = conn.execute(f"SELECT DISTINCT month FROM {schema}.leaderboard_current").fetchall()
        assert [m for (m,) in months] == [datetime.now(UTC).date().replace(day=1)]

        ingest_dlq = _drain(stack.bootstrap, f"{prefix}dlq.ingest", len(poison))
        assert len(ingest_dlq) == len(poison) and all(h.get("dlq.reason") for _, h in ingest_dlq)
        streams_dlq = _drain(stack.bootstrap, f"{prefix}dlq.streams", 3)
        reasons = sorted(h["dlq.reason"] for _, h in streams_dlq)
        assert len(reasons) == 3, reasons
        assert any("truncate" in r for r in reasons) and any("source.lsn" in r for r in reasons)
        assert any("not JSON" in r and "utf-16" not in r for r in reasons), reasons
        assert end_offsets(stack.bootstrap, [f"{prefix}dlq.streams"]) == 3  # the skipped shapes are not letters
    finally:
        pipeline.down()


def test_a_shuffled_120_day_backfill_loses_nothing_silently(stack, fresh_db, uid, tmp_path):
    """Default settings: every snapshot is applied or in dlq.late with its reason, exactly the ones an
    independent replay of the arrival order puts beyond 90 days before the newest of their profile."""
    import random

    prefix = f"bf{uid}."
    env = pipeline_env(prefix, tmp_path / "state", fresh_db)
    token = ingest_token(env)
    pipeline = Pipeline(tmp_path / "run", env)
    day = 86_400_000
    now = int(time.time() * 1000)
    rng = random.Random(5)
    events = [_event("social.profile.snapshot", now - d * day - rng.randrange(day // 2), profile_id=f"b{p}",
                     followers=10_000 + 37 * d + p) for p in range(3) for d in range(120)]  # fmt: skip
    rng.shuffle(events)
    newest: dict[str, int] = {}
    late: set[str] = set()
    for e in events:  # the arrival order, replayed: the lateness rule as the product defines it
        top = newest.get(e["profile_id"])
        if top is not None and e["event_time"] < top - 90 * day:
            late.add(e["event_id"])
        else:
            newest[e["profile_id"]] = max(top or e["event_time"], e["event_time"])
    assert late  # the shuffle does put some beyond the window
    try:
        pipeline.up()
        for i in range(0, len(events), 50):
            status, answer = _post(pipeline.ingest_url, token, json.dumps(events[i : i + 50]).encode())
            assert status == 200 and answer["rejected"] == 0, answer
        caught_up(stack.bootstrap, prefix, fresh_db, specs=("profile_summary",), run_dir=pipeline.run_dir)
        letters = _drain(stack.bootstrap, f"{prefix}dlq.late", len(late))
        got = {json.loads(v)["event_id"] for v, _ in letters}
        assert got == late and end_offsets(stack.bootstrap, [f"{prefix}dlq.late"]) == len(late)
        assert all("allowed lateness is 90 days" in h["dlq.reason"] for _, h in letters)
        rows = _summary(fresh_db, serving_schema(prefix))
        for pid, top in newest.items():
            applied = [e for e in events if e["profile_id"] == pid and e["event_id"] not in late]
            latest = max(applied, key=lambda e: e["event_time"])
            older = [e for e in applied if e["event_time"] <= top - 90 * day]
            base = max(older, key=lambda e: e["event_time"]) if older else None
            assert rows[pid]["followers"] == latest["followers"]
            growth = None if base is None else latest["followers"] - base["followers"]
            assert rows[pid]["followers_growth_90d"] == growth

        # the late letters, dumped by their topic and replayed with a wider lateness, apply: nothing was lost
        dumped = tmp_path / "late.avro"
        topic = f"{prefix}social.profile.snapshot"
        cli = [sys.executable, "-m", "deploy.cli", "replay"]
        args = ["dump", "--topic", f"{prefix}dlq.late", "--header", f"dlq.topic={topic}", "--out", str(dumped)]
        res = subprocess.run([*cli, *args], capture_output=True, text=True, env=pipeline.environment())
        assert res.returncode == 0 and f"{len(late)} records" in res.stdout, res.stdout + res.stderr
        pipeline.down(("worker",))
        pipeline.env["STIR_STREAMS_ALLOWED_LATENESS_MS"] = str(200 * day)
        pipeline.start("worker")
        res = subprocess.run([*cli, "load", "--in", str(dumped), "--topic", topic], capture_output=True, text=True,
                             env=pipeline.environment())  # fmt: skip
        assert res.returncode == 0 and f"{len(late)} sent, 0 invalid" in res.stdout, res.stdout + res.stderr
        caught_up(stack.bootstrap, prefix, fresh_db, specs=("profile_summary",), run_dir=pipeline.run_dir)
        rows = _summary(fresh_db, serving_schema(prefix))
        for pid in newest:
            mine = sorted((e for e in events if e["profile_id"] == pid), key=lambda e: e["event_time"])
            cut = mine[-1]["event_time"] - 90 * day
            base = max((e for e in mine if e["event_time"] <= cut), key=lambda e: e["event_time"])
            assert rows[pid]["followers_growth_90d"] == mine[-1]["followers"] - base["followers"]
        assert end_offsets(stack.bootstrap, [f"{prefix}dlq.late"]) == len(late)  # none went late again
    finally:
        pipeline.down()
