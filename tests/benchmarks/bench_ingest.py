"""Ingest API throughput with batched POSTs, and CDC latency (PostgreSQL commit -> Kafka record)."""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid

import httpx
import psycopg
from confluent_kafka import Consumer

from connectors.connect_client import ConnectClient
from connectors.debezium import ConnectorSettings, apply, connector_config, drop
from schemas.oltp_migrate import migrate
from schemas.registry import INGEST_TYPES
from tests.support.ingest_server import ingest_server
from tests.support.kafka import delete_topics

EVENTS = 200_000
BATCH = 1000
CLIENTS = 4


def _bodies(n: int) -> list[bytes]:
    now = time.time_ns() // 1_000_000
    out = []
    for b in range(n // BATCH):
        lines = []
        for i in range(BATCH):
            k = b * BATCH + i
            lines.append(json.dumps({
                "type": "social.profile.snapshot", "event_id": str(uuid.uuid4()), "event_time": now - k,
                "source": "bench", "profile_id": str(k % 5000), "platform": "instagram", "handle": f"h{k % 5000}",
                "followers": 10_000 + k,
            }, separators=(",", ":")))  # fmt: skip
        out.append("\n".join(lines).encode())
    return out


def test_ingest_throughput(stack, tmp_path, results):
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    bodies = _bodies(EVENTS)
    accepted = [0] * CLIENTS
    with ingest_server(tmp_path, prefix) as srv:
        headers = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/x-ndjson"}
        httpx.post(f"{srv.url}/v1/events", content=bodies[0], headers=headers, timeout=60)  # warm-up

        def worker(w: int) -> None:
            with httpx.Client(timeout=60, headers=headers) as client:
                for body in bodies[w::CLIENTS]:
                    r = client.post(f"{srv.url}/v1/events", content=body)
                    assert r.status_code == 200, r.text[:300]
                    accepted[w] += r.json()["accepted"]

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    delete_topics(stack.bootstrap, [prefix + t for t in (*INGEST_TYPES, "dlq.ingest")])
    assert sum(accepted) == EVENTS
    results.record("ingest_api", {
        "events": EVENTS, "batch_size": BATCH, "clients": CLIENTS, "seconds": elapsed,
        "events_per_s": EVENTS / elapsed,
    })  # fmt: skip


def test_cdc_latency(stack, fresh_db, results):
    uid = uuid.uuid4().hex[:8]
    migrate(fresh_db)
    cfg = ConnectorSettings(topic_prefix=f"bcdc{uid}.", slot_name=f"bslot_{uid}",
                            publication=f"bpub_{uid}", snapshot_mode="no_data")  # fmt: skip
    topic = f"{cfg.cdc_topic_prefix}.public.profiles"
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    rate, seconds = 200, 15
    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=fresh_db.split("dbname=")[1]))
        consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"b-{uid}",
                             "auto.offset.reset": "earliest", "fetch.queue.backoff.ms": 10,
                             "topic.metadata.refresh.interval.ms": 500})  # fmt: skip
        consumer.subscribe([topic])
        latencies: list[float] = []
        n = rate * seconds
        stop = threading.Event()

        def consume() -> None:
            while len(latencies) < n and not stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                v = json.loads(msg.value())
                # record timestamp (when Connect produced it) minus the transaction's commit time
                latencies.append(msg.timestamp()[1] - v["source"]["ts_ms"])

        reader = threading.Thread(target=consume)
        reader.start()
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            t0 = time.perf_counter()
            for i in range(n):
                conn.execute(
                    "INSERT INTO profiles (platform, handle, followers) VALUES ('youtube', %s, %s)", (f"b{i}", i)
                )
                delay = t0 + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        reader.join(60)
        stop.set()
        consumer.close()
        assert len(latencies) == n
        q = statistics.quantiles(latencies, n=100)
        results.record("cdc_latency", {
            "commits": n, "rate_per_s": rate, "p50_ms": q[49], "p95_ms": q[94], "p99_ms": q[98],
            "max_ms": max(latencies),
        })  # fmt: skip
    finally:
        drop(client, cfg, fresh_db)
        client.close()
        delete_topics(stack.bootstrap, [topic])
