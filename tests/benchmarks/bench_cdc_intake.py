"""Per-stage throughput of the two stages the other benchmarks do not isolate: Debezium CDC (rows committed in
PostgreSQL → records in Kafka) and the warehouse's intake (Kafka → ClickHouse rows, embedded warehouse: its Kafka
engine beside the bridge)."""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import pytest
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
BRIDGE_ROWS = 400_000


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


_intake: dict[str, dict[str, float]] = {}


@pytest.mark.parametrize("ingest", ["kafka", "bridge"])
def test_warehouse_intake_throughput(stack, tmp_path, results, ingest):
    """A backlog of 400k rows read into ClickHouse from the warehouse process's start, with the Kafka engine and
    with the bridge, one after the other in one run."""
    uid = uuid.uuid4().hex[:8]
    prefix, topic = f"bbr{uid}.", f"bbr{uid}.metrics.profile.rolling"
    ProfileRollingMetrics.model_validate_json(_row(1, 1_790_000_000_000))
    p = Producer({"bootstrap.servers": stack.bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    ensure_topics(stack.bootstrap, [prefix + s.topic for s in all_sources()], 4)
    now = int(time.time() * 1000)
    for start in range(0, BRIDGE_ROWS, 500):
        lines = [_row(i, now) for i in range(start, start + 500)]
        key = str(start % 50_000).encode()
        p.produce(topic, value=b"\n".join(lines), key=key, partition=partition_for(key, 4))
        p.poll(0)
    assert p.flush(60) == 0
    env = pipeline_env(prefix, tmp_path / "state", "", STIR_CH_INGEST=ingest)
    pipeline = Pipeline(tmp_path / "run", env)
    readers = [(g, ts) for g, ts in WarehouseSettings(topic_prefix=prefix, ingest=ingest).reading() if topic in ts]
    try:
        t0 = time.perf_counter()
        pipeline.start("warehouse")
        ready = time.perf_counter()
        assert wait_until(lambda: all(group_lag(stack.bootstrap, g, ts) == 0 for g, ts in readers), 600, 0.2)
        elapsed = time.perf_counter() - t0  # from the process start: reading begins while it starts
        ch = warehouse_client(env)
        rows = ch.query("SELECT count() FROM profile_rolling").result_rows[0][0]
        ch.close()
        assert rows >= 50_000  # ReplacingMergeTree may have merged some versions already
        _intake[ingest] = {"start_s": ready - t0, "seconds": elapsed, "rows_per_s": BRIDGE_ROWS / elapsed}
    finally:
        pipeline.down(("warehouse",))
        delete_topics(stack.bootstrap, [prefix + s.topic for s in all_sources()])
    if set(_intake) == {"kafka", "bridge"}:
        figures: dict[str, float] = {"rows": BRIDGE_ROWS, "rows_per_message": 500}
        figures.update({f"{name}_{k}": v for name, got in _intake.items() for k, v in got.items()})
        figures["kafka_to_bridge_rows_per_s"] = round(
            _intake["kafka"]["rows_per_s"] / _intake["bridge"]["rows_per_s"], 2
        )
        results.record("warehouse_intake_throughput", figures)
