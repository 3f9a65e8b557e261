"""One Faust worker on the profile agent, and beside it in the same run a bare confluent-kafka loop doing
the same transform (the Python ceiling): events/s of each and their ratio.

Both read the same backlog, produced before either starts (the producer's CPU is not shared with either), and both
are timed the same way: from the moment each can consume (the bare loop's first message; the worker's "Ready",
after its group join) to the timestamp of the last output record it wrote. Output-record spans alone would
flatter whichever writes its output in fewer, larger bursts."""

from __future__ import annotations

import gc
import json
import random
import time
import uuid
from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from deploy.local.process import wait_until
from schemas.kafka import ensure_topics, partition_for
from streams.agents import profiles
from streams.app import topics as stream_topics
from streams.settings import StreamsSettings
from tests.support.kafka import delete_topics
from tests.support.streams_worker import Worker, group_lag

PROFILES, DAYS, ROWS_PER_MESSAGE = 2000, 150, 500
DAY = 86_400_000


def _produce_snapshots(bootstrap: str, topic: str, partitions: int) -> int:
    rng = random.Random(5)
    end = 1_790_000_000_000
    by_part: dict[int, list[bytes]] = defaultdict(list)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    n = 0
    for d in range(DAYS):
        for i in range(PROFILES):
            pid = str(i)
            row = {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                   "event_time": end - (DAYS - d) * DAY + rng.randint(0, DAY - 1), "ingested_at": None,
                   "source": "bench", "schema_version": 1, "profile_id": pid, "platform": "instagram",
                   "handle": f"h{i}", "followers": 1000 + d * 10 + i, "following": None, "posts_count": None,
                   "category": "food", "language": "en", "country": None}  # fmt: skip
            part = partition_for(pid.encode(), partitions)
            by_part[part].append(json.dumps(row, separators=(",", ":")).encode())
            n += 1
            if len(by_part[part]) == ROWS_PER_MESSAGE:
                p.produce(topic, value=b"\n".join(by_part.pop(part)), partition=part)
                p.poll(0)
    for part, lines in by_part.items():
        p.produce(topic, value=b"\n".join(lines), partition=part)
    assert p.flush(60) == 0
    return n


def _last_output_s(bootstrap: str, topic: str) -> float:
    """Wall-clock time (s) of the newest record of ``topic`` over its partitions (the record timestamps)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"last-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False})  # fmt: skip
    newest = []
    try:
        for part in c.list_topics(topic, timeout=30).topics[topic].partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=30)
            if hi > lo:
                c.assign([TopicPartition(topic, part, hi - 1)])
                msg = c.poll(30)
                assert msg is not None and not msg.error(), (topic, part)
                newest.append(msg.timestamp()[1])
    finally:
        c.close()
    assert newest, f"{topic} is empty"
    return max(newest) / 1000


def _bare_loop(bootstrap: str, topic: str, out_topic: str, settings: StreamsSettings, n_events: int) -> float:
    """Consume, transform with the same batch function, produce, commit: no framework, with the collector settings
    the worker runs with (streams/app.py's run_worker). Returns the wall-clock time of its first message."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        return _bare(bootstrap, topic, out_topic, settings, n_events)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _bare(bootstrap: str, topic: str, out_topic: str, settings: StreamsSettings, n_events: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bare-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.queue.backoff.ms": 10})  # fmt: skip
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "lz4"})
    consumer.subscribe([topic])
    states: dict[str, Any] = {}
    seen, first = 0, 0.0
    while seen < n_events:
        msgs = consumer.consume(500, 1.0)
        if not msgs:
            continue
        first = first or time.time()
        out: dict[int, list[bytes]] = defaultdict(list)
        for msg in msgs:
            if msg.error():
                continue
            res = profiles.handle("social.profile.snapshot", msg.value(), states.get, settings, 0)
            states.update(res.states)
            seen += res.rows_in
            for key, line in res.out.get("metrics.profile.rolling", []):
                out[partition_for(key.encode(), settings.partitions)].append(line)
        for part, lines in out.items():
            for i in range(0, len(lines), 1000):
                producer.produce(out_topic, value=b"\n".join(lines[i : i + 1000]), partition=part)
        producer.flush(30)
        consumer.commit(asynchronous=False)
    consumer.close()
    return first


def test_profile_agent_vs_bare_loop(stack, tmp_path, results):
    uid = uuid.uuid4().hex[:6]
    prefix, app_id = f"bs{uid}.", f"bs-{uid}"
    settings = StreamsSettings(topic_prefix=prefix, app_id=app_id, allowed_lateness_ms=2 * DAY)
    ensure_topics(stack.bootstrap, [*stream_topics(settings), prefix + "bench.bare.out"], settings.partitions)
    topic = prefix + "social.profile.snapshot"
    env = {"STIR_TOPIC_PREFIX": prefix, "STIR_STREAMS_APP_ID": app_id, "STIR_STREAMS_LOG_LEVEL": "info",
           "STIR_STREAMS_REFRESH_INTERVAL_S": "3600"}  # fmt: skip
    worker = Worker(tmp_path, env)
    try:
        t_produce = time.perf_counter()
        n = _produce_snapshots(stack.bootstrap, topic, settings.partitions)
        produced_s = time.perf_counter() - t_produce
        worker.start()
        ready = wait_until(lambda: not worker.alive() or "Worker]: Ready" in worker.log.read_text(), 120, 0.02)
        ready_at = time.time()
        assert ready and worker.alive(), worker.log.read_text()[-3000:]
        caught_up = wait_until(
            lambda: not worker.alive() or group_lag(stack.bootstrap, app_id, [topic]) == 0, 400, 0.25
        )
        assert caught_up and worker.alive(), worker.log.read_text()[-3000:]
        worker.stop()
        faust_s = _last_output_s(stack.bootstrap, prefix + "metrics.profile.rolling") - ready_at
        first = _bare_loop(stack.bootstrap, topic, prefix + "bench.bare.out", settings, n)
        bare_s = _last_output_s(stack.bootstrap, prefix + "bench.bare.out") - first
    finally:
        worker.stop()
        delete_topics(stack.bootstrap, [*stream_topics(settings), prefix + "bench.bare.out"])
    faust_rate, bare_rate = n / faust_s, n / bare_s
    results.record("streams_profile_agent", {
        "events": n, "profiles": PROFILES, "rows_per_message": ROWS_PER_MESSAGE,
        "faust_worker_events_per_s": faust_rate, "bare_confluent_kafka_events_per_s": bare_rate,
        "faust_to_bare_ratio": faust_rate / bare_rate, "faust_seconds": faust_s, "bare_seconds": bare_s,
        "produce_seconds_before": produced_s,
        "take_max_messages": settings.take_max_messages, "take_within_s": settings.take_within_s,
    })  # fmt: skip
