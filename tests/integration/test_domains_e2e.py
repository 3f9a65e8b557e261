"""Hiring and user activity end to end on real services: hiring rows written to PostgreSQL (Debezium CDC) and
activity events posted to the ingest API reach the serving tables through Kafka, the Faust worker, the embedded
warehouse and the loader, and equal the independent oracle computed over the raw topics read back from Kafka.
Then the raw topics are dumped and re-fed by the replay tool into a fresh pipeline, whose hiring statuses and
account statuses equal the same oracle."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from clickhouse_ddl.backends import connect
from clickhouse_ddl.runner import all_sources
from clickhouse_ddl.settings import WarehouseSettings
from connectors.connect_client import ConnectClient
from connectors.debezium import ConnectorSettings, apply, config_for, drop
from connectors.ingest.tokens import TokenStore
from connectors.ingest_client import IngestClient
from deploy.local.kafka_progress import end_offsets, group_lag
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from deploy.local.settings import REPO_ROOT
from schemas.oltp_migrate import migrate
from streams.app import inputs as stream_inputs
from streams.app import topics as stream_topics
from streams.settings import StreamsSettings
from tests import domains_oracle as oracle
from tests import domains_serving_oracle as so
from tests.domains_workload import DomainWorkload, generate
from tests.integration.ingest_server import free_port
from tests.integration.kafka_utils import delete_topics
from tests.workload import DAY, HOUR

pytestmark = pytest.mark.integration

HIRING_TABLES = ("companies", "job_positions", "processes", "interviews", "outcomes")
ACTIVITY_TOPICS = ("activity.auth.attempt", "activity.session.event", "activity.feature.use", "activity.api.call")
DOMAIN_SPECS = ("hiring_processes", "active_applications", "interview_analytics", "application_daily_stats",
                "tenant_activity", "account_security")  # fmt: skip


def _ms(v: Any) -> Any:
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else v


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, float) and got is not None:
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return bool(_ms(got) == want)


def _realize_hiring(w: DomainWorkload, dsn: str) -> dict[str, int]:
    """Apply the hiring changes to PostgreSQL in commit order (one transaction each); returns changes per table."""
    counts = dict.fromkeys(HIRING_TABLES, 0)
    seen: set[int] = set()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for topic, _, row in w.hiring:
            lsn = row["source"]["lsn"]
            if lsn in seen:  # the workload's re-delivered copies: Debezium does its own
                continue
            seen.add(lsn)
            table, op, a, b = topic.rsplit(".", 1)[-1], row["op"], row["after"], row["before"]
            if op == "c":
                cols = [c for c in a if a[c] is not None]
                conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                             [a[c] for c in cols])  # fmt: skip
            elif op == "u":
                cols = [c for c in a if c != "id" and a[c] != b[c]]
                conn.execute(f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in cols)} WHERE id = %s",
                             [*(a[c] for c in cols), a["id"]])  # fmt: skip
            else:
                conn.execute(f"DELETE FROM {table} WHERE id = %s", [b["id"]])
            counts[table] += 1
    return counts


def _read_raw(bootstrap: str, prefix: str, names: list[str]) -> oracle.Records:
    """Every record of the raw topics, partition by partition (the order each key was produced in)."""
    import json

    from confluent_kafka import Consumer, TopicPartition

    out: oracle.Records = []
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{time.time_ns()}", "enable.auto.commit": False})
    md = c.list_topics(timeout=10)
    for name in names:
        for p in sorted(md.topics[prefix + name].partitions):
            low, high = c.get_watermark_offsets(TopicPartition(prefix + name, p), timeout=10)
            if high <= low:
                continue
            c.assign([TopicPartition(prefix + name, p, low)])
            pos = low
            while pos < high:
                msg = c.poll(5)
                assert msg is not None, f"stalled reading {name}[{p}]"
                if msg.error():
                    continue
                pos = (msg.offset() or 0) + 1
                for line in (msg.value() or b"").split(b"\n"):
                    if line.strip():
                        row = json.loads(line)
                        out.append((name, _key(name, row), row))
    c.close()
    return out


def _key(name: str, row: dict[str, Any]) -> str:
    if name.startswith("cdc."):
        img = row["after"] or row["before"]
        return str(img["process_id"] if name.endswith(("interviews", "outcomes")) else img["id"])
    return str(row.get("user_id") or row.get("session_id") or row.get("endpoint"))


def _serving(dsn: str, schema: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute(f'SELECT * FROM {schema}."{table}"').fetchall())


def _env(prefix: str, uid: str, tmp: Path, dsn: str, schema: str, lateness_ms: int) -> dict[str, str]:
    return {
        "STIR_STREAMS_TOPIC_PREFIX": prefix, "STIR_STREAMS_APP_ID": f"{prefix}app",
        "STIR_STREAMS_ALLOWED_LATENESS_MS": str(lateness_ms), "STIR_STREAMS_REFRESH_INTERVAL_S": "3600",
        "STIR_STREAMS_WEB_PORT": str(free_port()), "STIR_STREAMS_DATA_DIR": str(tmp / "faust"),
        "STIR_INGEST_TOPIC_PREFIX": prefix, "STIR_INGEST_PORT": str(free_port()),
        "STIR_INGEST_TOKENS_FILE": str(tmp / "tokens.json"),
        "STIR_CH_TOPIC_PREFIX": prefix, "STIR_CH_KAFKA_GROUP": f"{prefix}wh", "STIR_CH_DATABASE": f"d_{schema}",
        "STIR_CH_EMBEDDED_PATH": str(tmp / "chdb"), "STIR_CH_HTTP_PORT": str(free_port()),
        "STIR_STREAMS_METRICS_PORT": str(free_port()), "STIR_CH_METRICS_PORT": str(free_port()),
        "STIR_LOADER_METRICS_PORT": str(free_port()), "STIR_LOADER_PG_DSN": dsn,
        "STIR_LOADER_SCHEMA_NAME": schema, "STIR_LOADER_INTERVAL_SCALE": "0.2",
    }  # fmt: skip


def _caught_up(bootstrap: str, prefix: str, dsn: str, schema: str) -> None:
    inputs = stream_inputs(StreamsSettings(topic_prefix=prefix))
    assert wait_until(lambda: group_lag(bootstrap, f"{prefix}app", inputs) == 0, 300, 1.0), "worker lag"
    sources = [prefix + src.topic for src in all_sources()]
    assert wait_until(lambda: group_lag(bootstrap, f"{prefix}wh.bridge", sources) == 0, 120, 0.5), "bridge lag"
    caught_up = datetime.now(UTC)

    def loaded_after() -> bool:
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(f"SELECT spec FROM {schema}.stir_load_runs WHERE outcome = 'swapped' "
                                "AND started_at > %s", (caught_up,)).fetchall()  # fmt: skip
        return {r[0] for r in rows} >= set(DOMAIN_SPECS)

    assert wait_until(loaded_after, 120, 0.5), "the loader did not refresh every domain spec"


def _assert_statuses(
    dsn: str, schema: str, procs: dict[str, dict[str, Any]], security: dict[str, dict[str, Any]]
) -> None:
    got = {r["process_id"]: r for r in _serving(dsn, schema, "hiring_processes")}
    assert set(got) == set(procs)
    for pid, want in procs.items():
        for col, value in want.items():
            assert _same(value, got[pid][col]), f"hiring_processes {pid} {col}: {got[pid][col]!r} != {value!r}"
    got = {r["user_id"]: r for r in _serving(dsn, schema, "account_security")}
    assert set(got) == set(security)
    for uid, want in security.items():
        for col, value in want.items():
            if col in got[uid]:
                assert _same(value, got[uid][col]), f"account_security {uid} {col}: {got[uid][col]!r} != {value!r}"


def test_hiring_and_activity_reach_serving_equal_to_oracle_and_replay(stack, fresh_db, uid, tmp_path):
    migrate(fresh_db)
    prefix, schema = f"dom{uid}.", f"serving_{uid}"
    w = generate(processes=120, users=60, seed=41, end_ms=int(time.time() * 1000) - HOUR, shared_positions=False)
    cfg = ConnectorSettings(name=f"dom-{uid}", topic_prefix=f"{prefix}cdc", slot_name=f"slot_{uid}",
                            publication=f"pub_{uid}", snapshot_mode="no_data", heartbeat_interval_ms=1000,
                            outbox_topic=f"{prefix}outbox.${{routedByValue}}.events")  # fmt: skip
    token = TokenStore(tmp_path / "tokens.json").create("dom", ["*"])
    pipeline = Pipeline(tmp_path / "run", _env(prefix, uid, tmp_path, fresh_db, schema, w.lateness_ms))
    replay_prefix, replay_schema = f"rep{uid}.", f"replay_{uid}"
    replayed = Pipeline(tmp_path / "run2", _env(replay_prefix, uid, tmp_path / "r", fresh_db, replay_schema,
                                                 w.lateness_ms))  # fmt: skip
    client = ConnectClient(stack.connect_rest)
    s = StreamsSettings()
    try:
        apply(client, cfg, fresh_db, config_for(stack, cfg, dbname=f"t_{uid}"))
        pipeline.up()
        counts = _realize_hiring(w, fresh_db)
        with IngestClient(pipeline.ingest_url, token, source="e2e", batch_size=500) as ingest:
            for topic, _, row in w.logins + w.activity:
                ingest.send(topic, {k: v for k, v in row.items() if k not in ("ingested_at", "source")})
        assert not ingest.stats.rejected, ingest.stats.rejected[:3]
        for table, n in counts.items():
            topic = f"{prefix}cdc.public.{table}"
            assert wait_until(lambda t=topic, n=n: end_offsets(stack.bootstrap, [t]) >= n, 120, 0.5), topic
        _caught_up(stack.bootstrap, prefix, fresh_db, schema)

        # the oracle, over the raw topics as Kafka holds them
        raw_names = [f"cdc.public.{t}" for t in HIRING_TABLES] + list(ACTIVITY_TOPICS)
        raw = _read_raw(stack.bootstrap, prefix, raw_names)
        hiring_raw = [r for r in raw if r[0].startswith("cdc.")]
        activity_raw = [r for r in raw if not r[0].startswith("cdc.")]
        logins_raw = [r for r in activity_raw if r[0] == "activity.auth.attempt"]
        assert len(hiring_raw) == sum(counts.values())
        statuses = oracle.hiring(hiring_raw, s.partitions, int(s.hiring_ghost_after_days * DAY))
        procs = so.hiring_processes(statuses, hiring_raw)
        security = oracle.security(logins_raw, s.partitions, w.lateness_ms, s.login_fail_threshold,
                                   int(s.login_fail_window_s * 1000), int(s.login_quiet_s * 1000))  # fmt: skip
        assert {p["status"] for p in procs.values()} >= {"applied", "interviewing", "offer", "rejected", "ghosted"}
        assert {r["status"] for r in security.values()} == {"active", "suspicious"}
        _assert_statuses(fresh_db, schema, procs, security)

        active = so.active_applications(procs)
        got = {r["process_id"]: r for r in _serving(fresh_db, schema, "active_applications")}
        assert set(got) == set(active) and any(a["duplicate_active"] for a in active.values())
        for pid, want in active.items():
            for col, value in want.items():
                assert _same(value, got[pid][col]), f"active_applications {pid} {col}"
        analytics = so.interview_analytics(procs)
        got = {r["company_id"]: r for r in _serving(fresh_db, schema, "interview_analytics")}
        assert set(got) == set(analytics)
        for cid, want in analytics.items():
            for col, value in want.items():
                assert _same(value, got[cid][col]), f"interview_analytics {cid} {col}: {got[cid][col]} != {value}"
        daily = so.application_daily_stats(procs)
        got_daily = {(r["day"], r["company_id"]): (r["applications"], r["offers"], r["rejections"],
                     r["withdrawals"], r["ghosted"])
                     for r in _serving(fresh_db, schema, "application_daily_stats")}  # fmt: skip
        assert got_daily == daily
        tenants = so.tenant_activity(activity_raw)
        got_t = {(r["tenant_id"], r["day"]): r for r in _serving(fresh_db, schema, "tenant_activity")}
        assert set(got_t) == set(tenants)
        for k, want in tenants.items():
            for col, value in want.items():
                assert _same(value, got_t[k][col]), f"tenant_activity {k} {col}: {got_t[k][col]} != {value}"

        # the dashboards' views, through ClickHouse's HTTP interface
        wh = connect(WarehouseSettings(http_port=int(pipeline.env["STIR_CH_HTTP_PORT"]), database=f"d_{schema}"))
        try:
            api = so.api_latency_hourly(activity_raw)
            rows = wh.query("SELECT endpoint, hour, calls, p50_ms, p95_ms, p99_ms, error_rate, client_error_rate "
                            "FROM api_latency_hourly").result_rows  # fmt: skip
            assert len(rows) == len(api)
            for e, h, *vals in rows:
                want = api[(e, h.replace(tzinfo=UTC) if h.tzinfo is None else h)]
                assert all(_same(v, g) for v, g in zip(want.values(), vals, strict=True)), (e, h, want, vals)
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
                done = subprocess.run([sys.executable, "-m", "streams.cli", "replay", *args], cwd=REPO_ROOT,
                                      env=pipeline._env(),
                                      capture_output=True, text=True, timeout=120)  # fmt: skip
                assert done.returncode == 0, done.stderr[-2000:]
        _caught_up(stack.bootstrap, replay_prefix, fresh_db, replay_schema)
        _assert_statuses(fresh_db, replay_schema, procs, security)
        print(
            f"processes={len(procs)} accounts={len(security)} tenants-days={len(tenants)} "
            f"duplicates={sum(a['duplicate_active'] for a in active.values())}"
        )
    finally:
        replayed.down()
        pipeline.down()
        drop(client, cfg, fresh_db)
        client.close()
        topics = {t for t in stream_topics(StreamsSettings()) if not t.startswith("cdc.")}
        topics |= {s.topic for s in all_sources()} | {f"cdc.public.{t}" for t in HIRING_TABLES}
        delete_topics(stack.bootstrap, [p + t for p in (prefix, replay_prefix) for t in sorted(topics)])
