"""Shared by the hiring/activity end-to-end and fault tests: realize the workload in PostgreSQL, read raw topics
back, the pipeline's environment, catch-up waits and the serving-table comparisons."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from clickhouse_ddl.runner import all_sources
from connectors.debezium import ConnectorSettings
from deploy.local.kafka_progress import group_lag
from deploy.local.process import wait_until
from streams.app import inputs as stream_inputs
from streams.settings import StreamsSettings
from tests import domains_oracle as oracle
from tests.domains_workload import DomainWorkload
from tests.integration.ingest_server import free_port
from tests.integration.kafka_utils import read_lines

HIRING_TABLES = ("companies", "job_positions", "processes", "interviews", "outcomes")
ACTIVITY_TOPICS = ("activity.auth.attempt", "activity.session.event", "activity.feature.use", "activity.api.call")
DOMAIN_SPECS = ("hiring_processes", "active_applications", "interview_analytics", "application_daily_stats",
                "tenant_activity", "account_security")  # fmt: skip


def _ms(v: Any) -> Any:
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else v


def same(want: Any, got: Any) -> bool:
    if isinstance(want, float) and got is not None:
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return bool(_ms(got) == want)


def realize_hiring(w: DomainWorkload, dsn: str, pause_s: float = 0.0) -> dict[str, int]:
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
            if pause_s:
                time.sleep(pause_s)
    return counts


def read_raw(bootstrap: str, prefix: str, names: list[str]) -> oracle.Records:
    """Every record of the raw topics, partition by partition (the order each key was produced in)."""
    out: oracle.Records = []

    def add(name: str, line: bytes) -> None:
        row = json.loads(line)
        out.append((name, _key(name, row), row))

    read_lines(bootstrap, prefix, names, add)
    return out


def domain_topics() -> list[str]:
    """Every topic (unprefixed) a domain test's pipeline creates: the agents', the warehouse's, the hiring CDC."""
    from streams.app import topics as stream_topics

    names = {t for t in stream_topics(StreamsSettings()) if not t.startswith("cdc.")}
    names |= {s.topic for s in all_sources()} | {f"cdc.public.{t}" for t in HIRING_TABLES}
    return sorted(names)


def cdc_connector(prefix: str, uid: str, name: str) -> ConnectorSettings:
    """A connector of its own for one test: topics, slot and publication named after it."""
    return ConnectorSettings(name=f"{name}-{uid}", topic_prefix=f"{prefix}cdc", slot_name=f"slot_{uid}",
                             publication=f"pub_{uid}", snapshot_mode="no_data", heartbeat_interval_ms=1000,
                             outbox_topic=f"{prefix}outbox.${{routedByValue}}.events")  # fmt: skip


def _key(name: str, row: dict[str, Any]) -> str:
    if name.startswith("cdc."):
        img = row["after"] or row["before"]
        return str(img["process_id"] if name.endswith(("interviews", "outcomes")) else img["id"])
    return str(row.get("user_id") or row.get("session_id") or row.get("endpoint"))


def serving(dsn: str, schema: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute(f'SELECT * FROM {schema}."{table}"').fetchall())


def pipeline_env(prefix: str, uid: str, tmp: Path, dsn: str, schema: str, lateness_ms: int) -> dict[str, str]:
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


def caught_up(bootstrap: str, prefix: str, dsn: str, schema: str) -> None:
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


def assert_statuses(
    dsn: str, schema: str, procs: dict[str, dict[str, Any]], security: dict[str, dict[str, Any]]
) -> None:
    got = {r["process_id"]: r for r in serving(dsn, schema, "hiring_processes")}
    assert set(got) == set(procs)
    for pid, want in procs.items():
        for col, value in want.items():
            assert same(value, got[pid][col]), f"hiring_processes {pid} {col}: {got[pid][col]!r} != {value!r}"
    got = {r["user_id"]: r for r in serving(dsn, schema, "account_security")}
    assert set(got) == set(security)
    for uid, want in security.items():
        for col, value in want.items():
            if col in got[uid]:
                assert same(value, got[uid][col]), f"account_security {uid} {col}: {got[uid][col]!r} != {value!r}"
