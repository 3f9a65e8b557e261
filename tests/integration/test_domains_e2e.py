"""Hiring and user activity end to end on real services: hiring rows written to PostgreSQL (Debezium CDC) and
activity events posted to the ingest API reach the serving tables through Kafka, the Faust worker, the embedded
warehouse and the loader, and equal the independent oracle computed over the raw topics read back from Kafka.
Then the raw topics are dumped and re-fed by the replay tool into a fresh pipeline, whose hiring statuses and
account statuses equal the same oracle."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest

from connectors.connect_client import ConnectClient
from connectors.debezium import apply, connector_config, drop
from connectors.ingest_client import IngestClient
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from schemas.kafka import end_offsets
from schemas.oltp_migrate import migrate
from streams.settings import StreamsSettings
from tests.support import domains_oracle as oracle
from tests.support import domains_serving_oracle as so
from tests.support.domains_workload import generate
from tests.support.harness import (
    ACTIVITY_TOPICS,
    HIRING_TABLES,
    assert_statuses,
    caught_up,
    cdc_connector,
    domain_topics,
    ingest_token,
    pipeline_env,
    read_raw,
    realize_hiring,
    same,
    serving,
    serving_schema,
    warehouse_client,
)
from tests.support.kafka import delete_topics
from tests.support.workload import HOUR

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_hiring_and_activity_reach_serving_equal_to_oracle_and_replay(stack, fresh_db, uid, tmp_path):
    migrate(fresh_db)
    prefix, replay_prefix = f"dom{uid}.", f"rep{uid}."
    schema, replay_schema = serving_schema(prefix), serving_schema(replay_prefix)
    w = generate(processes=120, users=60, seed=41, end_ms=int(time.time() * 1000) - HOUR, shared_positions=False)
    cfg = cdc_connector(prefix, uid)
    lateness = {"STIR_STREAMS_ALLOWED_LATENESS_MS": str(w.lateness_ms)}
    pipeline = Pipeline(tmp_path / "run", pipeline_env(prefix, tmp_path / "state", fresh_db, **lateness))
    token = ingest_token(pipeline.env)
    replayed = Pipeline(tmp_path / "run2", pipeline_env(replay_prefix, tmp_path / "state2", fresh_db, **lateness))
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    s = StreamsSettings()
    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=f"t_{uid}"))
        pipeline.up()
        counts = realize_hiring(w, fresh_db)
        with IngestClient(pipeline.ingest_url, token, source="e2e", batch_size=500) as ingest:
            for topic, _, row in w.logins + w.activity:
                ingest.send(topic, {k: v for k, v in row.items() if k not in ("ingested_at", "source")})
        assert not ingest.stats.rejected, ingest.stats.rejected[:3]
        for table, n in counts.items():
            topic = f"{prefix}cdc.public.{table}"
            assert wait_until(lambda t=topic, n=n: end_offsets(stack.bootstrap, [t]) >= n, 120, 0.5), topic
        caught_up(stack.bootstrap, prefix, fresh_db, run_dir=pipeline.run_dir)

        # the oracle, over the raw topics as Kafka holds them
        raw_names = [f"cdc.public.{t}" for t in HIRING_TABLES] + list(ACTIVITY_TOPICS)
        raw = read_raw(stack.bootstrap, prefix, raw_names)
        hiring_raw = [r for r in raw if r[0].startswith("cdc.")]
        activity_raw = [r for r in raw if not r[0].startswith("cdc.")]
        logins_raw = [r for r in activity_raw if r[0] == "activity.auth.attempt"]
        assert len(hiring_raw) == sum(counts.values())
        statuses, security = oracle.expected(hiring_raw, logins_raw, s, w.lateness_ms)
        procs = so.hiring_processes(statuses, hiring_raw)
        assert {p["status"] for p in procs.values()} >= {"applied", "interviewing", "offer", "rejected", "ghosted"}
        assert {r["status"] for r in security.values()} == {"active", "suspicious"}
        assert_statuses(fresh_db, schema, procs, security)

        active = so.active_applications(procs)
        got = {r["process_id"]: r for r in serving(fresh_db, schema, "active_applications")}
        assert set(got) == set(active) and any(a["duplicate_active"] for a in active.values())
        for pid, want in active.items():
            for col, value in want.items():
                assert same(value, got[pid][col]), f"active_applications {pid} {col}"
        analytics = so.interview_analytics(procs)
        got = {r["company_id"]: r for r in serving(fresh_db, schema, "interview_analytics")}
        assert set(got) == set(analytics)
        for cid, want in analytics.items():
            for col, value in want.items():
                assert same(value, got[cid][col]), f"interview_analytics {cid} {col}: {got[cid][col]} != {value}"
        daily = so.application_daily_stats(procs)
        got_daily = {(r["day"], r["company_id"]): (r["applications"], r["offers"], r["rejections"],
                     r["withdrawals"], r["ghosted"])
                     for r in serving(fresh_db, schema, "application_daily_stats")}  # fmt: skip
        assert got_daily == daily
        tenants = so.tenant_activity(activity_raw)
        got_t = {(r["tenant_id"], r["day"]): r for r in serving(fresh_db, schema, "tenant_activity")}
        assert set(got_t) == set(tenants)
        for k, want in tenants.items():
            for col, value in want.items():
                assert same(value, got_t[k][col]), f"tenant_activity {k} {col}: {got_t[k][col]} != {value}"

        # the dashboards' views, through ClickHouse's HTTP interface
        wh = warehouse_client(pipeline.env)
        try:
            api = so.api_latency_hourly(activity_raw)
            rows = wh.query("SELECT endpoint, hour, calls, p50_ms, p95_ms, p99_ms, error_rate, client_error_rate "
                            "FROM api_latency_hourly").result_rows  # fmt: skip
            assert len(rows) == len(api)
            for e, h, *vals in rows:
                want = api[(e, h.replace(tzinfo=UTC) if h.tzinfo is None else h)]
                assert all(same(v, g) for v, g in zip(want.values(), vals, strict=True)), (e, h, want, vals)
            features = so.feature_adoption(activity_raw)
            rows = wh.query(
                "SELECT tenant_id, feature, users_30d, uses_30d, adoption_pct FROM feature_adoption"
            ).result_rows
            assert {(t, f): (u, n, a) for t, f, u, n, a in rows} == {
                k: (v["users_30d"], v["uses_30d"], v["adoption_pct"]) for k, v in features.items()}  # fmt: skip
        finally:
            wh.close()

        # replay: dump the raw topics, re-feed them into a fresh pipeline; its statuses equal the same oracle
        replayed.up(("warehouse", "worker", "loader"))
        for name in ["cdc.public.processes", "cdc.public.interviews", "cdc.public.outcomes",
                     "cdc.public.job_positions", "cdc.public.companies", "activity.auth.attempt"]:  # fmt: skip
            out = tmp_path / f"{name}.avro"
            load = ["load", "--in", str(out), "--topic", replay_prefix + name, "--preserve-partitions"]
            for args in (["dump", "--topic", prefix + name, "--out", str(out)], load):
                done = subprocess.run([sys.executable, "-m", "deploy.cli", "replay", *args], cwd=REPO_ROOT,
                                      env=pipeline.environment(),
                                      capture_output=True, text=True, timeout=120)  # fmt: skip
                assert done.returncode == 0, done.stderr[-2000:]
        caught_up(stack.bootstrap, replay_prefix, fresh_db, run_dir=replayed.run_dir)
        assert_statuses(fresh_db, replay_schema, procs, security)
        print(
            f"processes={len(procs)} accounts={len(security)} tenants-days={len(tenants)} "
            f"duplicates={sum(a['duplicate_active'] for a in active.values())}"
        )
    finally:
        replayed.down()
        pipeline.down()
        drop(client, cfg, fresh_db)
        client.close()
        delete_topics(stack.bootstrap, [p + t for p in (prefix, replay_prefix) for t in domain_topics()])
