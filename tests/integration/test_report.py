"""`stir report --html` on a live pipeline under traffic: its freshness probes commit in PostgreSQL and time the new
versions into ClickHouse and the serving table; the page renders in headless Chromium with every chart drawn. Then
the serving table's freshness stamp is checked against a stream of commits (``tests/support/stamps.py``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from psycopg.conninfo import make_conninfo

from clickhouse_ddl.settings import WarehouseSettings
from connectors.connect_client import ConnectClient
from connectors.debezium import apply, connector_config, drop
from connectors.ingest_client import IngestClient
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from schemas.oltp_migrate import migrate
from schemas.roles import AUDIT, LOADER, OWNER
from tests.support.chromium import rendered_charts
from tests.support.harness import caught_up, cdc_connector, ingest_token, pipeline_env, serving_schema, warehouse_client
from tests.support.kafka import delete_topics
from tests.support.stamps import check_stamps

pytestmark = pytest.mark.integration

PROFILES = 12
REPO_ROOT = Path(__file__).resolve().parents[2]


def _snapshot(pid: int, followers: int, at: datetime) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "event_time": int(at.timestamp() * 1000), "profile_id": str(pid),
            "platform": "instagram", "handle": f"h{pid}", "followers": followers}  # fmt: skip


def test_the_html_report_measures_commit_to_row_and_renders_in_chromium(stack, fresh_db, uid, tmp_path):
    migrate(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # the probes write as the database's owner role
        conn.execute(f"GRANT SELECT, UPDATE ON profiles TO {OWNER}")
        for pid in range(1, PROFILES + 1):
            conn.execute("INSERT INTO profiles (id, platform, handle) VALUES (%s, 'instagram', %s)", (pid, f"h{pid}"))
    prefix = f"rep{uid}."
    loader_dsn = make_conninfo(stack.dsn(role=LOADER), dbname=f"t_{uid}")
    audit_dsn = make_conninfo(stack.dsn(role=AUDIT), dbname=f"t_{uid}")
    env = pipeline_env(prefix, tmp_path / "state", loader_dsn, STIR_LOADER_AUDIT_DSN=audit_dsn,
                       STIR_LOADER_RECONCILE_EVERY_S="5")  # fmt: skip
    token = ingest_token(env)
    pipeline = Pipeline(tmp_path / "run", env)
    cfg = cdc_connector(prefix, uid)
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    now = datetime.now(UTC)
    last_month = (now.replace(day=1) - timedelta(days=1)).replace(day=10, hour=12)
    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=f"t_{uid}"))
        pipeline.up()
        with IngestClient(pipeline.ingest_url, token, source="report", batch_size=100) as ingest:
            for pid in range(1, PROFILES + 1):  # last month's order is reversed this month: every rank moves
                ingest.send("social.profile.snapshot", _snapshot(pid, 1000 + 10 * pid, last_month))
                ingest.send("social.profile.snapshot", _snapshot(pid, 5000 - 10 * pid, now - timedelta(minutes=5)))
                # profiles only the ingest API knows, with newer ids: nothing to commit, the probes pass them by
                ingest.send("social.profile.snapshot", _snapshot(900_000 + pid, 10, now - timedelta(minutes=5)))
        assert not ingest.stats.rejected
        caught_up(stack.bootstrap, prefix, fresh_db, specs=("profile_summary", "leaderboard_monthly"),
                  run_dir=pipeline.run_dir)  # fmt: skip

        stop = threading.Event()

        def traffic() -> None:  # snapshots during the window, so that every stage has a rate
            with IngestClient(pipeline.ingest_url, token, source="report", batch_size=20) as live:
                n = 0
                while not stop.wait(0.05):
                    n += 1
                    # profiles the probes leave alone (a snapshot of a probed one would pass for its probe)
                    live.send("social.profile.snapshot", _snapshot(1 + n % 6, 5000 + n, datetime.now(UTC)))

        sender = threading.Thread(target=traffic, daemon=True)
        sender.start()
        cli_env = {**pipeline.environment(), "STIR_STATE_DIR": str(stack.state_dir), "STIR_PG_DATABASE": f"t_{uid}",
                   "STIR_CH_PASSWORD": pipeline.settings(WarehouseSettings).ch_secret()}  # fmt: skip
        cli_env.pop("STIR_LOADER_SERVING_DSN")  # the probes read serving as the app does
        out = tmp_path / "report"
        done = subprocess.run([sys.executable, "-m", "deploy.cli", "report", "--html", "--out", str(out),
                               "--window", "10", "--every", "1", "--probes", "4"],
                              cwd=REPO_ROOT, env=cli_env, capture_output=True, text=True, timeout=300)  # fmt: skip
        stop.set()
        sender.join(10)
        assert done.returncode == 0, done.stderr[-3000:]
        for warning in ("probes ran", "did not reach", "probes stopped"):  # every probe ran and arrived
            assert warning not in done.stderr, done.stderr[-2000:]

        page = (out / "report.html").read_text()
        data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
        fresh = data["freshness"]
        assert (fresh["probes"], fresh["arrived_clickhouse"], fresh["arrived_serving"]) == (4, 4, 4), fresh
        for p in data["probes"]:  # a row is served only after ClickHouse has it
            assert 0 < p["to_clickhouse_ms"] <= p["to_serving_ms"] < 60_000, p
        assert {p["profile_id"] for p in data["probes"]} == {"12", "11", "10", "9"}  # the newest, none with traffic
        # each probe is a real commit: ClickHouse holds a newer version of its profile than before it
        wh = warehouse_client(pipeline.env)
        try:
            for p in data["probes"]:
                rows = wh.query("SELECT max(version) FROM profile_rolling WHERE profile_id = {pid:String}",
                                parameters={"pid": p["profile_id"]}).result_rows  # fmt: skip
                assert rows[0][0] > p["before"], p
        finally:
            wh.close()
        assert data["throughput"].get("ingest API", 0) > 0 and data["throughput"].get("agent profiles", 0) > 0
        movers = data["movers"]
        assert movers and all(m[2] == f"h{m[0]}" for m in movers), movers  # named by their handles
        assert movers[0][3] > 0  # the biggest mover climbed

        charts = rendered_charts(out / "report.html", tmp_path / "report.png")
        assert [c["name"] for c in charts] == ["throughput", "lag", "freshness", "top_movers"]
        for c in charts:
            assert c["width"] > 300 and c["height"] > 100, c
            assert c["drawn"] and all(d["marks"] >= 1 and (d["width"] > 0 or d["height"] > 0) for d in c["drawn"]), c
        freshness = next(c for c in charts if c["name"] == "freshness")
        assert [d["label"] for d in freshness["drawn"]] == ["commit → ClickHouse row", "commit → serving row"]
        assert all(d["label"] in freshness["text"] for d in freshness["drawn"])

        # the serving table's freshness stamp is never ahead of the truth, under a stream of commits
        got = check_stamps(fresh_db, fresh_db, serving_schema(prefix), [7, 8], f"stamp{uid}", seconds=15)
        print(f"stamp check: {got}")
        assert not got.violations, got
        assert got.covered > got.commits, got  # the stamp moved past most commits, each one checked

        # reconciliation: nothing drifts; then a row deleted by hand in serving is reported, by the CLI and the metric
        reconcile = [sys.executable, "-m", "deploy.cli", "load", "reconcile", "--timeout-s", "60"]
        clean = subprocess.run(reconcile, cwd=REPO_ROOT, env=cli_env, capture_output=True, text=True, timeout=120)
        assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(f"DELETE FROM \"{serving_schema(prefix)}\".profile_summary WHERE profile_id = '10'")
        drift = subprocess.run(reconcile, cwd=REPO_ROOT, env=cli_env, capture_output=True, text=True, timeout=120)
        assert drift.returncode == 1 and "1 missing (e.g. 10)" in drift.stderr, drift.stdout + drift.stderr
        metrics = f"http://127.0.0.1:{env['STIR_LOADER_METRICS_PORT']}/metrics"
        gauge = 'stir_serving_drift_rows{kind="missing",spec="profile_summary"} 1.0'
        assert wait_until(lambda: gauge in httpx.get(metrics, timeout=5).text, 60, 1), "the drift metric stayed 0"
    finally:
        pipeline.down()
        drop(client, cfg, fresh_db)
        client.close()
        topics = AdminClient({"bootstrap.servers": stack.bootstrap}).list_topics(timeout=30).topics
        delete_topics(stack.bootstrap, [t for t in topics if t.startswith(prefix)])
