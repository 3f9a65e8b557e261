"""Grafana files: dashboards with fixed uids on the provisioned data sources, and every ClickHouse panel and
variable query, with Grafana's macros expanded, runs against the migrated embedded warehouse and returns its
columns (Prometheus panels are checked against the running processes in ``test_prometheus.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.local.pipeline import Pipeline
from tests.support.harness import pipeline_env, warehouse_client

pytestmark = pytest.mark.integration
GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def ch_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel or variable, SQL) for every ClickHouse query."""
    out = []
    for f in DASHBOARDS:
        d = json.loads(f.read_text())
        for p in d["panels"]:
            for t in p["targets"]:
                if t["datasource"]["type"] == "grafana-clickhouse-datasource":
                    out.append(
                        (d["uid"], p["title"] + ("|timeseries" if p["type"] == "timeseries" else ""), t["rawSql"])
                    )
        for v in d.get("templating", {}).get("list", []):
            if v["datasource"]["type"] == "grafana-clickhouse-datasource":
                out.append((d["uid"], f"${v['name']}", v["query"]))
    return out


def expand(sql: str) -> str:
    """Grafana's ClickHouse macros and the dashboards' variables (their "All" value)."""
    sql = re.sub(r"\$__timeFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)",
                 r"\1 >= toDateTime(1790000000) AND \1 <= toDateTime(1800000000)", sql)  # fmt: skip
    return re.sub(r"\$\{(category|language|platform)\}", "%", sql)


def test_dashboards_have_fixed_uids_and_use_the_provisioned_data_sources():
    provisioned = {d["uid"]: d["type"] for d in yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "stir.yaml").read_text())["datasources"]}  # fmt: skip
    uids = [json.loads(f.read_text())["uid"] for f in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 4
    for f in DASHBOARDS:
        d: dict[str, Any] = json.loads(f.read_text())
        for p in d["panels"]:
            for t in p["targets"]:
                assert provisioned.get(t["datasource"]["uid"]) == t["datasource"]["type"], (f.name, p["title"])
    assert "${STIR_GRAFANA_CH_PASSWORD}" in (GRAFANA / "provisioning" / "datasources" / "stir.yaml").read_text()


def test_every_clickhouse_query_runs_on_the_migrated_warehouse(stack, tmp_path, uid):
    env = pipeline_env(f"gf{uid}.", tmp_path / "state", "")
    pipeline = Pipeline(tmp_path / "run", env)
    pipeline.start("warehouse")
    client = warehouse_client(env, reader=True)  # as Grafana connects: the read-only user
    try:
        queries = ch_queries()
        assert len(queries) >= 10
        for dashboard, what, sql in queries:
            text = expand(sql)
            assert "$" not in text, (dashboard, what, text)
            columns = [r[0] for r in client.query(f"DESCRIBE ({text})").result_rows]
            assert columns, (dashboard, what)
            if what.endswith("|timeseries"):
                assert columns[0] == "time", (dashboard, what, columns)
            client.query(text)  # and it executes
    finally:
        client.close()
        pipeline.down(("warehouse",))
        from clickhouse_ddl.runner import all_sources
        from tests.support.kafka import delete_topics

        delete_topics(stack.bootstrap, [f"gf{uid}.{s.topic}" for s in all_sources()])
