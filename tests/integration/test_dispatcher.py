"""The scrape dispatcher against a real broker and a real HTTP scraper stand-in (``tests/support/fake_scraper``):
each request reaches the scraper under its idempotency key across a SIGKILL of the dispatcher and an outage of the
scraper, with nothing lost; malformed and refused requests land in ``dlq.dispatch``; the rate cap holds on every
POST the scraper saw (retries and the restart included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from bisect import bisect_left
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from connectors.dispatch.settings import DispatchSettings
from deploy.local.process import wait_until
from schemas.kafka import ensure_topics, group_lag
from schemas.topics import Topology
from tests.support.fake_scraper import FakeScraper
from tests.support.kafka import delete_topics

pytestmark = pytest.mark.integration
T0 = 1_795_000_000_000
N = 150  # requests
PER_MESSAGE = 3
CAP, WINDOW_S = 30, 3.0


def _request(i: int) -> dict[str, object]:
    return {"event_id": str(uuid.UUID(int=i + 1)), "event_time": T0 + i, "ingested_at": None, "source": "test",
            "schema_version": 1, "request_id": f"refresh:p{i}:7", "post_id": f"p{i}",
            "flow": "refresh_post_by_shortcode", "reason": "stale", "published_at": T0 - i}  # fmt: skip


def _max_in_window(times: list[float], window_s: float) -> int:
    times = sorted(times)
    return max((bisect_left(times, t + window_s) - i for i, t in enumerate(times)), default=0)


def _dispatcher(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "deploy.cli", "dispatch", "run"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def _dead_letters(bootstrap: str, topic: str, want: int) -> list[tuple[bytes, dict[str, bytes]]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"dlq-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest"})  # fmt: skip
    c.subscribe([topic])
    out: list[tuple[bytes, dict[str, bytes]]] = []

    def more() -> bool:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            raw = msg.headers() or []
            pairs = list(raw.items()) if isinstance(raw, dict) else raw
            out.append((msg.value() or b"", {k: v for k, v in pairs if isinstance(v, bytes)}))
        return len(out) >= want

    try:
        wait_until(more, 30)
    finally:
        c.close()
    return out


def test_delivered_once_per_key_across_a_kill_and_an_outage_within_the_cap(stack, uid, tmp_path):
    prefix = f"dp{uid}."
    settings = DispatchSettings(topic_prefix=prefix, state_dir=tmp_path / "state")
    topo = Topology(settings)
    requests_topic, dlq_topic = topo.name("social.scrape.request"), topo.name("dlq.dispatch")
    ensure_topics(stack.bootstrap, [requests_topic, dlq_topic], 4)
    token = uuid.uuid4().hex
    token_file = tmp_path / "scraper.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    scraper = FakeScraper(token, refuse={"p77"})
    scraper.start()
    lines = [json.dumps(_request(i)).encode() for i in range(N)]
    lines.insert(40, b'{"not": "a request"}')
    lines.insert(90, b"\xff not json")
    p = Producer({"bootstrap.servers": stack.bootstrap, "partitioner": "murmur2_random"})
    for start in range(0, len(lines), PER_MESSAGE):
        p.produce(requests_topic, key=f"k{start}".encode(), value=b"\n".join(lines[start : start + PER_MESSAGE]))
    assert p.flush(30) == 0
    env = {**os.environ, "STIR_STATE_DIR": str(settings.state_dir), "STIR_TOPIC_PREFIX": prefix,
           "STIR_KAFKA_BOOTSTRAP": stack.bootstrap, "STIR_DISPATCH_SCRAPER_URL": scraper.url,
           "STIR_DISPATCH_TOKEN_FILE": str(token_file), "STIR_DISPATCH_MAX_PER_WINDOW": str(CAP),
           "STIR_DISPATCH_WINDOW_S": str(WINDOW_S), "STIR_DISPATCH_BACKOFF_INITIAL_S": "0.2",
           "STIR_DISPATCH_BACKOFF_MAX_S": "1"}  # fmt: skip
    log = tmp_path / "dispatch.log"
    proc = _dispatcher(env, log)
    try:
        assert wait_until(lambda: scraper.n_accepted() >= 40 or proc.poll() is not None, 60), log.read_text()
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGKILL)  # mid-run: its last message is not committed
        proc.wait(10)
        scraper.stop()  # and the scraper goes down before the dispatcher is back
        proc = _dispatcher(env, log)
        assert wait_until(lambda: "not delivered (ConnectError" in log.read_text(), 60), log.read_text()
        scraper.start()  # the same port
        want = {f"refresh:p{i}:7" for i in range(N)} - {"refresh:p77:7"}
        assert wait_until(lambda: set(scraper.accepted) >= want, 120), (len(scraper.accepted), log.read_text())
        assert wait_until(lambda: group_lag(stack.bootstrap, settings.group_id, [requests_topic]) == 0, 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        scraper.stop()
    posts = scraper.posts
    (tmp_path / "posts.json").write_text(json.dumps([[p.t, p.key, p.status] for p in posts]))
    assert set(scraper.accepted) == want  # every request, none invented
    assert all(post.authorized for post in posts)
    bodies: dict[str, set[str]] = defaultdict(set)
    for post in posts:
        bodies[str(post.key)].add(json.dumps(post.body, sort_keys=True))
    for key, seen in bodies.items():  # the same request under the same key every time
        assert len(seen) == 1 and json.loads(next(iter(seen)))["request_id"] == key, (key, seen)
    per_key = Counter(post.key for post in posts if post.status in (200, 201))
    repeats = sum(n - 1 for n in per_key.values())
    assert repeats <= PER_MESSAGE  # only the message the kill interrupted is sent again
    assert sum(post.status == 201 for post in posts) == len(want)
    peak = _max_in_window([post.t for post in posts], WINDOW_S - 0.05)
    print(f"\n{len(posts)} POSTs, {repeats} repeats after the kill, at most {peak} in any {WINDOW_S:g} s (cap {CAP})")
    assert peak <= CAP
    assert _max_in_window([post.t for post in posts], WINDOW_S * 2) > CAP  # the cap was what held it back
    dead = _dead_letters(stack.bootstrap, dlq_topic, 3)
    reasons = {h["dlq.code"].decode() for _, h in dead}
    assert reasons == {"invalid", "refused"}, dead
    assert {v for v, h in dead if h["dlq.code"] == b"invalid"} == {b'{"not": "a request"}', b"\xff not json"}
    refused = [json.loads(v) for v, h in dead if h["dlq.code"] == b"refused"]
    assert {r["post_id"] for r in refused} == {"p77"} and b"422" in next(
        h["dlq.reason"] for _, h in dead if h["dlq.code"] == b"refused")  # fmt: skip
    assert token not in log.read_text()
    delete_topics(stack.bootstrap, [requests_topic, dlq_topic])
