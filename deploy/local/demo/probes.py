"""Waiting until every stage has caught up with the workload, and freshness probes: how long a PostgreSQL
commit takes to reach ClickHouse and the serving table."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console

from deploy.local.demo.common import cdc_topics, progress
from deploy.local.process import wait_until
from schemas.kafka import end_offsets, group_lag
from schemas.settings import CoreSettings
from schemas.topics import AGENTS, Topology
from serving_loader.status import refreshed_since

# the specs the loader must have swapped in after the workload
LOADED_SPECS = {
    "profile_summary",
    "leaderboard_monthly",
    "hiring_processes",
    "tenant_activity",
    "account_security",
    "instagram_account",
    "youtube_account",
    "leaderboard",
}

CH_VERSION = "SELECT max(version) FROM profile_rolling WHERE profile_id = %(pid)s"
CH_VERSIONS = "SELECT profile_id, max(version) FROM profile_rolling WHERE profile_id IN %(ids)s GROUP BY profile_id"
TOUCH_PROFILE = "UPDATE profiles SET updated_at = now() WHERE id = %s"


def wait_for_pipeline(core: CoreSettings, cdc_before: int, cdc_rows: int, dsn: str, schema: str,
                      console: Console) -> None:  # fmt: skip
    """CDC rows in Kafka, then the worker, then the warehouse caught up, then one loader pass after that."""
    from clickhouse_ddl.settings import WarehouseSettings
    from streams.settings import StreamsSettings

    cdc = cdc_topics(core)
    inputs = Topology(core).inputs(AGENTS)
    worker_group = StreamsSettings().app_id
    reading = WarehouseSettings().reading()
    steps: list[tuple[str, Callable[[], bool]]] = [
        ("Debezium: CDC rows in Kafka", lambda: end_offsets(core.bootstrap, cdc) - cdc_before >= cdc_rows),
        ("Faust worker: input lag 0", lambda: group_lag(core.bootstrap, worker_group, inputs) == 0),
        ("warehouse: lag 0", lambda: all(group_lag(core.bootstrap, g, ts) == 0 for g, ts in reading)),
    ]
    with progress(console) as bar:
        for name, done in steps:
            task = bar.add_task(name, total=1)
            if not wait_until(done, 600, 0.5):
                raise RuntimeError(f"timed out waiting for: {name}")
            bar.advance(task)
        task = bar.add_task("loader: serving tables refreshed", total=1)
        mark = datetime.now(UTC)

        def loaded() -> bool:
            with psycopg.connect(dsn) as conn:
                return LOADED_SPECS.issubset(refreshed_since(conn, schema, mark))

        if not wait_until(loaded, 300, 0.5):
            raise RuntimeError("timed out waiting for the loader")
        bar.advance(task)


def freshness_probes(dsn: str, serving_dsn: str, ch: Any, schema: str, probes: int,
                     console: Console) -> tuple[list[float], list[float]]:  # fmt: skip
    """Commit ``UPDATE profiles SET updated_at = now()`` on demo profiles (``dsn``: the OLTP writer); the profile
    agent turns each CDC row into a new ``metrics.profile.rolling`` version. Time until that version is in
    ClickHouse, and in the serving table (read at ``serving_dsn``, as the app; milliseconds, sorted)."""
    summary = sql.Identifier(schema, "profile_summary")
    latest = sql.SQL("SELECT profile_id FROM {} ORDER BY profile_id DESC LIMIT %s").format(summary)
    versions = sql.SQL("SELECT profile_id, version FROM {} WHERE profile_id = ANY(%s)").format(summary)
    with psycopg.connect(dsn, autocommit=True) as oltp, psycopg.connect(serving_dsn, autocommit=True) as conn:
        ids = [str(r[0]) for r in conn.execute(latest, (probes,))]
        pending: dict[str, tuple[int, float]] = {}
        for pid in ids:
            before = ch.query(CH_VERSION, parameters={"pid": pid}).result_rows[0][0]
            oltp.execute(TOUCH_PROFILE, (int(pid),))
            pending[pid] = (int(before), time.monotonic())
        to_ch: dict[str, float] = {}
        to_serving: dict[str, float] = {}
        deadline = time.monotonic() + 120
        with progress(console) as bar:
            task = bar.add_task("freshness probes", total=2 * len(ids))
            while (len(to_ch) < len(ids) or len(to_serving) < len(ids)) and time.monotonic() < deadline:
                now = time.monotonic()
                waiting = [p for p in ids if p not in to_ch]
                if waiting:
                    for pid, v in ch.query(CH_VERSIONS, parameters={"ids": tuple(waiting)}).result_rows:
                        if v > pending[pid][0]:
                            to_ch[pid] = (now - pending[pid][1]) * 1000
                            bar.advance(task)
                waiting = [p for p in ids if p not in to_serving]
                if waiting:
                    for pid, v in conn.execute(versions, (waiting,)):
                        if v > pending[pid][0]:
                            to_serving[pid] = (now - pending[pid][1]) * 1000
                            bar.advance(task)
                time.sleep(0.02)
    return sorted(to_ch.values()), sorted(to_serving.values())
