"""Shared by the hiring/activity end-to-end and fault tests: realize the workload in PostgreSQL, read raw topics
back, the pipeline's environment, catch-up waits and the serving-table comparisons."""

from __future__ import annotations

import json
import math
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from clickhouse_ddl.settings import WarehouseSettings
from connectors.debezium import ConnectorSettings
from connectors.ingest.settings import IngestSettings
from connectors.ingest.tokens import TokenStore
from deploy.local.process import wait_until
from schemas.clickhouse import connect
from schemas.kafka import group_lag
from schemas.settings import CH_READER_USER, CoreSettings
from schemas.topics import AGENTS, TOPICS
from serving_loader.settings import LoaderSettings
from serving_loader.status import refreshed_since
from streams.app import inputs as stream_inputs
from streams.settings import StreamsSettings
from tests.support import domains_oracle as oracle
from tests.support.domains_workload import DomainWorkload
from tests.support.ingest_server import free_port
from tests.support.kafka import read_lines

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
    """Every topic (logical) a domain test's pipeline creates: the agents', the warehouse's, the hiring CDC."""
    names = {t.name for t in TOPICS if t.kind != "cdc" and set(t.readers + t.writers) & {*AGENTS, "warehouse"}}
    return sorted(names | {f"cdc.public.{t}" for t in HIRING_TABLES})


def cdc_connector(prefix: str, uid: str) -> ConnectorSettings:
    """The connector of one test's pipeline: topics under its prefix; name, slot and publication scoped by it."""
    return ConnectorSettings(topic_prefix=prefix, slot_name=f"slot_{uid}", publication=f"pub_{uid}",
                             snapshot_mode="no_data", heartbeat_interval_ms=1000)  # fmt: skip


def _key(name: str, row: dict[str, Any]) -> str:
    if name.startswith("cdc."):
        img = row["after"] or row["before"]
        return str(img["process_id"] if name.endswith(("interviews", "outcomes")) else img["id"])
    return str(row.get("user_id") or row.get("session_id") or row.get("endpoint"))


def serving(dsn: str, schema: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute(f'SELECT * FROM {schema}."{table}"').fetchall())


def pipeline_env(prefix: str, state_dir: Path, serving_dsn: str, **tuning: str) -> dict[str, str]:
    """The environment of a pipeline of its own beside the default one: its topic prefix and free ports (every
    group, database, schema and path is scoped by the prefix), a state dir of its own, the serving database it
    writes to, and ``tuning`` (more ``STIR_*`` values)."""
    _share_connect_password(state_dir)
    ports = ("STIR_STREAMS_WEB_PORT", "STIR_INGEST_PORT", "STIR_CH_HTTP_PORT", "STIR_STREAMS_METRICS_PORT",
             "STIR_CH_METRICS_PORT", "STIR_LOADER_METRICS_PORT")  # fmt: skip
    return {"STIR_TOPIC_PREFIX": prefix, **{p: str(free_port()) for p in ports}, "STIR_STATE_DIR": str(state_dir),
            "STIR_LOADER_SERVING_DSN": serving_dsn, "STIR_STREAMS_REFRESH_INTERVAL_S": "3600",
            "STIR_LOADER_INTERVAL_SCALE": "0.2", **tuning}  # fmt: skip


def _share_connect_password(state_dir: Path) -> None:
    """The test pipeline's components reach the session's Connect with its REST password, as the default
    pipeline's do: a copy in the pipeline's own secrets dir (0600), never in the environment."""
    theirs, ours = CoreSettings().connect_password_file, CoreSettings(state_dir=state_dir).connect_password_file
    if theirs.exists() and not ours.exists():
        ours.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(ours, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(theirs.read_text())


def ingest_token(env: dict[str, str], name: str = "test", scopes: tuple[str, ...] = ("*",)) -> str:
    """A bearer token the ingest API of the pipeline with environment ``env`` accepts."""
    settings = IngestSettings(topic_prefix=env["STIR_TOPIC_PREFIX"], state_dir=Path(env["STIR_STATE_DIR"]))
    return TokenStore(settings.tokens_file).create(name, list(scopes))


def warehouse_client(env: dict[str, str], reader: bool = False) -> Any:
    """A ClickHouse client on the embedded warehouse of the pipeline with environment ``env`` (its admin, or its
    read-only user as Grafana connects)."""
    ws = WarehouseSettings(topic_prefix=env["STIR_TOPIC_PREFIX"], ch_http_port=int(env["STIR_CH_HTTP_PORT"]),
                           state_dir=Path(env["STIR_STATE_DIR"]))  # fmt: skip
    if reader:
        return connect(ws, user=CH_READER_USER, password=ws.ch_reader_password_file.read_text().strip())
    return connect(ws)


def serving_schema(prefix: str) -> str:
    return LoaderSettings(topic_prefix=prefix).schema_name


def worker_restarts(run_dir: Path) -> int:
    """How many times the pipeline's `stir streams worker` restarted its Faust process (exit 70 or a signal)."""
    log = run_dir / "worker.log"
    return log.read_text(errors="replace").count("restarting it in") if log.exists() else 0


def caught_up(bootstrap: str, prefix: str, dsn: str, specs: tuple[str, ...] = DOMAIN_SPECS,
              timeout_s: float = 300, run_dir: Path | None = None) -> None:  # fmt: skip
    """The one "pipeline caught up" wait: the worker's and the warehouse's groups have no lag, then the loader has
    refreshed every spec in ``specs`` (swapped or upserted) from a look at the warehouse after that moment. A
    failure shows the lag and the tail of the component's log in ``run_dir`` (the pipeline's)."""
    streams = StreamsSettings(topic_prefix=prefix)
    inputs = stream_inputs(streams)

    def why(what: str, group: str, topics: list[str], log: str) -> str:
        tail = (run_dir / log).read_text(errors="replace")[-4000:] if run_dir and (run_dir / log).exists() else ""
        return f"{what}: {group_lag(bootstrap, group, topics)} messages left; {log}:\n{tail}"

    if not wait_until(lambda: group_lag(bootstrap, streams.app_id, inputs) == 0, timeout_s, 1.0):
        raise AssertionError(why("worker lag", streams.app_id, inputs, "worker.log"))
    wh = WarehouseSettings(topic_prefix=prefix)
    for group, topics in wh.reading():
        if not wait_until(lambda: group_lag(bootstrap, group, topics) == 0, 120, 0.5):  # noqa: B023
            raise AssertionError(why("warehouse lag", group, topics, "warehouse.log"))
    since = datetime.now(UTC)
    schema = serving_schema(prefix)

    def loaded_after() -> bool:
        with psycopg.connect(dsn) as conn:
            return refreshed_since(conn, schema, since) >= set(specs)

    assert wait_until(loaded_after, 120, 0.5), f"the loader did not refresh every spec of {specs}"


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
