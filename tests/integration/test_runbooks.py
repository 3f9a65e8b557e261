"""The replay runbooks of docs/runbooks.md done as an operator does them, with `stir` commands (and stopping and
starting the pipeline's processes), on real services; each ends equal to the independent oracle over the raw
topics:

- "Rebuild the warehouse for a date range": `stir ch delete-range`, the warehouse stopped, `stir replay
  reset-offsets` of the Kafka engine's groups that read the topics (one per source table), the warehouse started;
- reset a consumer group: the worker stopped, `stir replay reset-offsets` of its group, the worker started (every
  login read twice, none counted twice);
- "Re-feed a lost day from a dump": a pipeline that never got one day of activity gets it from `stir replay dump
  --event-from/--event-to` of the other's topics and `stir replay load`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clickhouse_ddl.settings import WarehouseSettings
from connectors.ingest_client import IngestClient
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from schemas.kafka import end_offsets, group_lag
from streams.membership import members
from streams.settings import StreamsSettings
from tests.support import domains_oracle as oracle
from tests.support import domains_serving_oracle as so
from tests.support.domains_workload import generate
from tests.support.harness import (
    ACTIVITY_TOPICS,
    assert_statuses,
    caught_up,
    domain_topics,
    ingest_token,
    pipeline_env,
    read_raw,
    same,
    serving,
    serving_schema,
    warehouse_client,
)
from tests.support.kafka import delete_topics
from tests.support.workload import HOUR

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTH = "activity.auth.attempt"
LATENESS_MS = str(7 * 24 * HOUR)  # a deliberate backfill: the runbook raises the lateness first


def stir(pipeline: Pipeline, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "deploy.cli", *args], cwd=REPO_ROOT, env=pipeline.environment(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, f"stir {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def day_of(row: dict[str, Any]) -> date:
    return datetime.fromtimestamp(row["event_time"] / 1000, UTC).date()


def post(pipeline: Pipeline, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    with IngestClient(pipeline.ingest_url, ingest_token(pipeline.env), source="rb", batch_size=500) as ingest:
        for topic, _, row in events:
            ingest.send(topic, {k: v for k, v in row.items() if k not in ("ingested_at", "source")})
    assert not ingest.stats.rejected, ingest.stats.rejected[:3]


def assert_tenants(pipeline: Pipeline, dsn: str, want: dict[tuple[str, date], dict[str, Any]]) -> None:
    got = {(r["tenant_id"], r["day"]): r for r in serving(dsn, serving_schema(pipeline.env["STIR_TOPIC_PREFIX"]),
                                                            "tenant_activity")}  # fmt: skip
    assert set(got) == set(want)
    for k, row in want.items():
        for col, value in row.items():
            assert same(value, got[k][col]), f"tenant_activity {k} {col}: {got[k][col]} != {value}"


def no_members(bootstrap: str, group: str) -> bool:
    return wait_until(lambda: not members(bootstrap, group), 60, 0.5)


def test_runbooks_rebuild_the_warehouse_reset_a_group_and_refeed_a_lost_day(stack, fresh_db, uid, tmp_path):
    prefix, lost_prefix = f"rb{uid}.", f"rl{uid}."
    w = generate(processes=5, users=40, seed=67, end_ms=int(time.time() * 1000) - HOUR)
    events = w.logins + w.activity
    day = Counter(day_of(row) for _, _, row in events).most_common(1)[0][0]
    span = ["--event-from", f"{day}T00:00:00Z", "--event-to", f"{day + timedelta(days=1)}T00:00:00Z"]
    a = Pipeline(tmp_path / "run", pipeline_env(prefix, tmp_path / "state", fresh_db,
                                                STIR_STREAMS_ALLOWED_LATENESS_MS=LATENESS_MS))  # fmt: skip
    b = Pipeline(tmp_path / "run-lost", pipeline_env(lost_prefix, tmp_path / "state-lost", fresh_db,
                                                     STIR_STREAMS_ALLOWED_LATENESS_MS=LATENESS_MS))  # fmt: skip
    s = StreamsSettings(topic_prefix=prefix)
    activity = {prefix + n for n in ACTIVITY_TOPICS}
    engine = [(g, ts) for g, ts in WarehouseSettings(topic_prefix=prefix).reading() if set(ts) & activity]
    try:
        a.up()
        b.up()
        before_any = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        post(a, events)
        post(b, [e for e in events if day_of(e[2]) != day])  # b never got the day
        caught_up(stack.bootstrap, prefix, fresh_db, run_dir=a.run_dir)
        caught_up(stack.bootstrap, lost_prefix, fresh_db, run_dir=b.run_dir)

        raw = read_raw(stack.bootstrap, prefix, list(ACTIVITY_TOPICS))
        assert len(raw) == len(events)
        tenants = so.tenant_activity(raw)
        _, security = oracle.expected([], [r for r in raw if r[0] == AUTH], s, int(LATENESS_MS))
        assert {d for _, d in tenants} > {day} and {r["status"] for r in security.values()} == {"active", "suspicious"}
        assert_tenants(a, fresh_db, tenants)
        assert_statuses(fresh_db, serving_schema(prefix), {}, security)

        # rebuild the warehouse for [day, day + 1)
        wh = warehouse_client(a.env)
        try:
            users_of_day = "SELECT count() FROM activity_users_daily WHERE day = {d:Date}"
            assert wh.query(users_of_day, parameters={"d": day}).result_rows[0][0] > 0
            stir(a, "ch", "delete-range", "--table", "activity_users_daily", "--from", str(day), "--to",
                 str(day + timedelta(days=1)), "--yes")  # fmt: skip
            assert wh.query(users_of_day, parameters={"d": day}).result_rows[0][0] == 0
        finally:
            wh.close()
        a.process("warehouse").stop()
        assert len(engine) >= len(ACTIVITY_TOPICS)
        for group, topics in engine:
            assert no_members(stack.bootstrap, group)
            for topic in topics:
                stir(a, "replay", "reset-offsets", "--group", group, "--topic", topic, "--to-time", before_any,
                     "--yes")  # fmt: skip
            assert group_lag(stack.bootstrap, group, topics) == end_offsets(stack.bootstrap, topics)
        a.start("warehouse")
        caught_up(stack.bootstrap, prefix, fresh_db, run_dir=a.run_dir)
        assert_tenants(a, fresh_db, tenants)

        # reset the worker's group: every login is read again, none counts twice
        a.process("worker").stop()
        assert no_members(stack.bootstrap, s.app_id)
        stir(a, "replay", "reset-offsets", "--group", s.app_id, "--topic", prefix + AUTH, "--to-time", before_any,
             "--yes")  # fmt: skip
        assert group_lag(stack.bootstrap, s.app_id, [prefix + AUTH]) == end_offsets(stack.bootstrap, [prefix + AUTH])
        a.start("worker")
        caught_up(stack.bootstrap, prefix, fresh_db, run_dir=a.run_dir)
        assert_statuses(fresh_db, serving_schema(prefix), {}, security)

        # re-feed the lost day into b from dumps of a's topics
        assert not {k for k in tenants if k[1] == day} & {(r["tenant_id"], r["day"]) for r in serving(
            fresh_db, serving_schema(lost_prefix), "tenant_activity") if r["dau"]}  # fmt: skip
        for name in ACTIVITY_TOPICS:
            dump = tmp_path / f"{name}-{day}.avro"
            stir(a, "replay", "dump", "--topic", prefix + name, *span, "--out", str(dump))
            stir(b, "replay", "load", "--in", str(dump), "--topic", lost_prefix + name)
        caught_up(stack.bootstrap, lost_prefix, fresh_db, run_dir=b.run_dir)
        assert_tenants(b, fresh_db, tenants)
        raw_b = read_raw(stack.bootstrap, lost_prefix, [AUTH])
        assert sorted(r[2]["event_id"] for r in raw_b) == sorted(r[2]["event_id"] for r in raw if r[0] == AUTH)
        _, security_b = oracle.expected([], raw_b, s, int(LATENESS_MS))  # b read the day last: its own order
        assert_statuses(fresh_db, serving_schema(lost_prefix), {}, security_b)
    finally:
        b.down()
        a.down()
        delete_topics(stack.bootstrap, [p + t for p in (prefix, lost_prefix) for t in domain_topics()])
