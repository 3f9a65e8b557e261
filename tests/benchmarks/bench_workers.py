"""Workers: what a rebalance and a restart cost, measured side by side in one run.

- Rebalance pauses: two workers under steady traffic; a third joins and leaves cleanly three times, and one is
  SIGKILLed once; a pause is the longest time the output topic did not grow after each event (p50 / p95 over
  the joins and leaves, and the kill on its own: it includes the dead member's session timeout).
- Restart: one worker holding STATE_PROFILES profiles of state (``STIR_BENCH_STATE_PROFILES``, default 1M) is
  SIGKILLed; the time until a new event's output appears, the worker's RSS before the kill and after its
  recovery, and the changelog records its recovery applied. Once on the disk store (the default), once on
  faust's memory store, in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from deploy.local.process import wait_until
from schemas.kafka import end_offsets, ensure_topics, partition_for
from streams.app import topics as stream_topics
from streams.settings import StreamsSettings
from tests.support.kafka import delete_topics
from tests.support.streams_worker import Worker, group_lag

STATE_PROFILES = int(os.environ.get("STIR_BENCH_STATE_PROFILES", "1000000"))
END = 1_790_000_000_000


def _snapshot(pid: str, t: int, followers: int) -> bytes:
    return json.dumps({"event_id": str(uuid.uuid4()), "event_time": t, "ingested_at": None, "source": "bench",
                       "schema_version": 1, "profile_id": pid, "platform": "instagram", "handle": "h",
                       "followers": followers}, separators=(",", ":")).encode()  # fmt: skip


def _rss_mib(pid: int) -> float:
    """RSS of ``pid`` and its descendants (``stir streams worker`` supervises the Faust process it starts)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return round(total / 1024, 1)


class Traffic(threading.Thread):
    """Snapshots of 5,000 profiles at ``rate`` events/s, 50 per message, until stopped."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: int) -> None:
        super().__init__(daemon=True)
        self.p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic, self.partitions, self.rate = topic, partitions, rate
        self.stop_event = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop_event.is_set():
            t0 = time.monotonic()
            by_part: dict[int, list[bytes]] = {}
            for _ in range(self.rate // 10):
                pid = str(i % 5000)
                by_part.setdefault(partition_for(pid.encode(), self.partitions), []).append(
                    _snapshot(pid, END + i, i))  # fmt: skip
                i += 1
            for part, lines in by_part.items():
                for k in range(0, len(lines), 50):
                    self.p.produce(self.topic, value=b"\n".join(lines[k : k + 50]), partition=part)
            self.p.poll(0)
            self.stop_event.wait(max(0.0, 0.1 - (time.monotonic() - t0)))
        self.p.flush(30)


def _pause_after(bootstrap: str, out_topic: str, act: object, window_s: float = 25.0) -> float:
    """Run ``act()``, then the longest time within ``window_s`` the output topic did not grow."""
    act()  # type: ignore[operator]
    last, since, longest = end_offsets(bootstrap, [out_topic]), time.monotonic(), 0.0
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now_end = end_offsets(bootstrap, [out_topic])
        if now_end > last:
            longest, last, since = max(longest, time.monotonic() - since), now_end, time.monotonic()
    return round(max(longest, time.monotonic() - since), 2)


def _env(prefix: str, app_id: str) -> dict[str, str]:
    return {"STIR_TOPIC_PREFIX": prefix, "STIR_STREAMS_APP_ID": app_id, "STIR_STREAMS_REFRESH_INTERVAL_S": "3600",
            "STIR_STREAMS_COMMIT_INTERVAL_S": "0.5"}  # fmt: skip


def test_rebalance_pauses(stack, tmp_path, results):
    uid = uuid.uuid4().hex[:6]
    prefix, app_id = f"bw{uid}.", f"bw-{uid}"
    settings = StreamsSettings(topic_prefix=prefix, app_id=app_id)
    ensure_topics(stack.bootstrap, stream_topics(settings), settings.partitions)
    topic, out = prefix + "social.profile.snapshot", prefix + "metrics.profile.rolling"
    workers = [Worker(tmp_path / f"w{i}", _env(prefix, app_id)) for i in range(3)]
    for w in workers:
        w.workdir.mkdir()
    traffic = Traffic(stack.bootstrap, topic, settings.partitions, rate=2000)
    moves: list[float] = []
    try:
        workers[0].start()
        workers[1].start()
        traffic.start()
        assert wait_until(lambda: end_offsets(stack.bootstrap, [out]) > 0, 120, 0.5)
        time.sleep(5)
        for _ in range(3):
            moves.append(_pause_after(stack.bootstrap, out, workers[2].start))
            moves.append(_pause_after(stack.bootstrap, out, workers[2].stop))
        kill = _pause_after(stack.bootstrap, out, workers[0].kill9, window_s=40)
        traffic.stop_event.set()
        traffic.join(30)
        assert wait_until(lambda: group_lag(stack.bootstrap, app_id, [topic]) == 0, 120, 0.5)
    finally:
        traffic.stop_event.set()
        for w in workers:
            w.stop()
        delete_topics(stack.bootstrap, stream_topics(settings))
    q = statistics.quantiles(moves, n=20, method="inclusive")
    results.record("workers_rebalance", {
        "join_or_leave_pause_p50_s": round(statistics.median(moves), 2), "join_or_leave_pause_p95_s": round(q[18], 2),
        "sigkill_pause_s": kill, "session_timeout_s": settings.session_timeout_s, "traffic_events_per_s": 2000,
        "joins_and_leaves": len(moves),
    })  # fmt: skip


def _recovered(port: int) -> float:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    rows = [r for r in text.splitlines() if r.startswith("stir_streams_state_recovered_total{")]
    return sum(float(r.rsplit(" ", 1)[1]) for r in rows)


@pytest.mark.parametrize("store", ["disk", "memory"])
def test_restart_with_state(stack, tmp_path, results, store):
    from tests.support.ingest_server import free_port

    uid = uuid.uuid4().hex[:6]
    prefix, app_id = f"br{uid}.", f"br-{uid}"
    settings = StreamsSettings(topic_prefix=prefix, app_id=app_id)
    ensure_topics(stack.bootstrap, stream_topics(settings), settings.partitions)
    topic, out = prefix + "social.profile.snapshot", prefix + "metrics.profile.rolling"
    p = Producer({"bootstrap.servers": stack.bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    by_part: dict[int, list[bytes]] = {}
    for i in range(STATE_PROFILES):
        pid = f"s{i}"
        by_part.setdefault(partition_for(pid.encode(), settings.partitions), []).append(_snapshot(pid, END, i))
    for part, lines in by_part.items():
        for k in range(0, len(lines), 500):
            p.produce(topic, value=b"\n".join(lines[k : k + 500]), partition=part)
            p.poll(0)
    assert p.flush(60) == 0
    port = free_port()
    worker = Worker(tmp_path, {**_env(prefix, app_id), "STIR_STREAMS_STORE": store,
                               "STIR_STREAMS_METRICS_PORT": str(port)})  # fmt: skip
    try:
        worker.start()
        t_fill = time.monotonic()
        assert wait_until(lambda: group_lag(stack.bootstrap, app_id, [topic]) == 0, 1800, 0.5)
        fill_s = time.monotonic() - t_fill
        time.sleep(3)  # the changelog acknowledged, the offsets committed
        assert worker.proc is not None
        rss_before = _rss_mib(worker.proc.pid)
        worker.kill9()
        killed = time.monotonic()
        worker.start()
        probe = "probe-" + uuid.uuid4().hex[:6]
        p.produce(topic, value=_snapshot(probe, END + 1, 1), partition=partition_for(probe.encode(), 4))
        p.flush(10)

        def probe_out() -> bool:
            c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"p-{uuid.uuid4()}",
                          "enable.auto.commit": False})  # fmt: skip
            part = partition_for(probe.encode(), settings.partitions)
            _, high = c.get_watermark_offsets(TopicPartition(out, part), timeout=10)
            c.assign([TopicPartition(out, part, max(high - 50, 0))])
            found = any(probe.encode() in (m.value() or b"") for m in c.consume(200, 2.0))
            c.close()
            return found

        assert wait_until(probe_out, 600, 0.5), worker.log.read_text()[-3000:]
        to_first_output = time.monotonic() - killed
        time.sleep(2)
        assert worker.proc is not None
        rss_after = _rss_mib(worker.proc.pid)
        applied = _recovered(port) if store == "disk" else None
        files = list((tmp_path / "state").rglob("*.sqlite3*"))
        disk_mib = round(sum(f.stat().st_size for f in files) / 2**20, 1)
    finally:
        worker.stop()
        delete_topics(stack.bootstrap, stream_topics(settings))
    results.record(f"workers_restart_{store}_store", {
        "profiles_of_state": STATE_PROFILES, "sigkill_to_first_new_output_s": round(to_first_output, 1),
        "rss_before_kill_mib": rss_before, "rss_after_recovery_mib": rss_after,
        "state_files_mib": disk_mib, "changelog_records_recovered": applied,
        "first_fill_events_per_s": round(STATE_PROFILES / fill_s), "session_timeout_s": settings.session_timeout_s,
    })  # fmt: skip
