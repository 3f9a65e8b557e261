"""Per-stage throughput of the two stages the other benchmarks do not isolate: Debezium CDC (rows committed in
PostgreSQL → records in Kafka) and the warehouse's intake (Kafka → ClickHouse rows through the embedded warehouse's
Kafka engine)."""

from __future__ import annotations

import json
import time
import uuid

import psycopg
from confluent_kafka import Producer

from clickhouse_ddl.runner import all_sources
from clickhouse_ddl.settings import WarehouseSettings
from connectors.connect_client import ConnectClient
from connectors.debezium import ConnectorSettings, apply, connector_config, drop
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from schemas.kafka import end_offsets, ensure_topics, group_lag, partition_for
from schemas.models import ProfileRollingMetrics
from schemas.oltp_migrate import migrate
from tests.support.harness import pipeline_env, warehouse_client
from tests.support.kafka import delete_topics

CDC_ROWS = 50_000
INTAKE_ROWS = 400_000


def test_cdc_throughput(stack, fresh_db, results):
    uid = uuid.uuid4().hex[:8]
    migrate(fresh_db)
    cfg = ConnectorSettings(topic_prefix=f"bthr{uid}.", slot_name=f"bthr_{uid}",
                            publication=f"bthrp_{uid}", snapshot_mode="no_data")  # fmt: skip
    topic = f"{cfg.cdc_topic_prefix}.public.profiles"
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=fresh_db.split("dbname=")[1]))
        with psycopg.connect(fresh_db, autocommit=True) as conn:  # warm-up: the topic exists, the task streams
            conn.execute("INSERT INTO profiles (platform, handle) VALUES ('youtube', 'warm')")
        assert wait_until(lambda: end_offsets(stack.bootstrap, [topic]) >= 1, 60, 0.2)
        t0 = time.perf_counter()
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            for start in range(0, CDC_ROWS, 1000):  # 50 transactions of 1,000 rows
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany("INSERT INTO profiles (platform, handle) VALUES ('youtube', %s)",
                                    [(f"t{i}",) for i in range(start, start + 1000)])  # fmt: skip
        committed = time.perf_counter() - t0
        assert wait_until(lambda: end_offsets(stack.bootstrap, [topic]) >= CDC_ROWS + 1, 300, 0.1)
        elapsed = time.perf_counter() - t0
        results.record("cdc_throughput", {"rows": CDC_ROWS, "commit_s": committed, "seconds": elapsed,
                                          "rows_per_s": CDC_ROWS / elapsed})  # fmt: skip
    finally:
        drop(client, cfg, fresh_db)
        client.close()
        delete_topics(stack.bootstrap, [topic])


def _row(i: int, now: int) -> bytes:
    pid = str(i % 50_000)
    row = {"event_id": str(uuid.uuid4()), "event_time": now, "ingested_at": None, "source": "bench",
           "schema_version": 1, "profile_id": pid, "version": i, "as_of": now, "platform": "instagram",
           "followers": 1000 + i, "followers_growth_7d": 10, "followers_growth_30d": 40, "followers_growth_90d": None,
           "growth_rate_7d": 1.0, "growth_rate_30d": 4.0, "growth_rate_90d": None, "avg_likes": 10.5,
           "avg_comments": 1.5, "avg_views": None, "engagement_rate": 1.2, "likes_to_comment_ratio": 7.0,
           "avg_posts_per_week": 2.0, "likes_spread": 3.0, "posts_counted": 12, "follower_group": "0-5k",
           "category": "food", "language": "en", "country": None}  # fmt: skip
    fields = list(ProfileRollingMetrics.model_fields)
    return json.dumps({k: row.get(k) for k in fields}, separators=(",", ":")).encode()


def test_warehouse_intake_throughput(stack, tmp_path, results):
    """A backlog of 400k rows read into ClickHouse by the warehouse's Kafka engine, timed from the process's
    start (reading begins once its fronts are attached, at the end of its start) and from its readiness."""
    uid = uuid.uuid4().hex[:8]
    prefix, topic = f"bbr{uid}.", f"bbr{uid}.metrics.profile.rolling"
    ProfileRollingMetrics.model_validate_json(_row(1, 1_790_000_000_000))
    p = Producer({"bootstrap.servers": stack.bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    ensure_topics(stack.bootstrap, [prefix + s.topic for s in all_sources()], 4)
    now = int(time.time() * 1000)
    for start in range(0, INTAKE_ROWS, 500):
        lines = [_row(i, now) for i in range(start, start + 500)]
        key = str(start % 50_000).encode()
        p.produce(topic, value=b"\n".join(lines), key=key, partition=partition_for(key, 4))
        p.poll(0)
    assert p.flush(60) == 0
    env = pipeline_env(prefix, tmp_path / "state", "")
    pipeline = Pipeline(tmp_path / "run", env)
    readers = [(g, ts) for g, ts in WarehouseSettings(topic_prefix=prefix).reading() if topic in ts]
    try:
        t0 = time.perf_counter()
        pipeline.start("warehouse")
        ready = time.perf_counter()
        assert wait_until(lambda: all(group_lag(stack.bootstrap, g, ts) == 0 for g, ts in readers), 600, 0.2)
        done = time.perf_counter()
        ch = warehouse_client(env)
        rows = ch.query("SELECT count() FROM profile_rolling").result_rows[0][0]
        ch.close()
        assert rows >= 50_000  # ReplacingMergeTree may have merged some versions already
    finally:
        pipeline.down(("warehouse",))
        delete_topics(stack.bootstrap, [prefix + s.topic for s in all_sources()])
    results.record("warehouse_intake_throughput", {
        "rows": INTAKE_ROWS, "rows_per_message": 500, "start_s": ready - t0, "seconds": done - t0,
        "rows_per_s": INTAKE_ROWS / (done - t0), "rows_per_s_after_start": INTAKE_ROWS / (done - ready),
    })  # fmt: skip
