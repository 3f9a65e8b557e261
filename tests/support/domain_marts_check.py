"""Run in a child process (chdb holds one data path per process): migrate an embedded warehouse, insert the
domain agents' rows (from the batch simulation) and the raw activity events into the source tables, and
compare every hiring and activity mart with ``tests/domains_serving_oracle.py``. Prints a JSON report."""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_ddl.backends import ChdbBackend
from clickhouse_ddl.runner import all_sources, migrate
from streams.settings import StreamsSettings
from tests.support import domains_oracle as oracle
from tests.support import domains_serving_oracle as so
from tests.support.domains_sim import simulate_domains
from tests.support.domains_workload import generate
from tests.support.workload import DAY

META = ',"_topic":"t","_partition":0,"_offset":0,"_timestamp_ms":null,"_raw_message":"","_error":""}'


def _norm(got: Any, want: Any) -> Any:
    if isinstance(got, str) and isinstance(want, int) and not isinstance(want, bool) and ":" in got:
        return int(datetime.fromisoformat(got).replace(tzinfo=UTC).timestamp() * 1000)
    if isinstance(want, bool) and isinstance(got, int):
        return bool(got)
    return got


def _diff(want: dict[Any, dict[str, Any]], got: dict[Any, dict[str, Any]]) -> list[str]:
    if set(want) != set(got):
        return [f"keys differ: {sorted(map(str, set(want) ^ set(got)))[:3]}"]
    bad = []
    for k, row in want.items():
        for c, v in row.items():
            g = _norm(got[k][c], v)
            same = math.isclose(g, v, rel_tol=1e-9, abs_tol=1e-9) if isinstance(v, float) and g is not None else g == v
            if not same:
                bad.append(f"{k} {c}: {g!r} != {v!r}")
    return bad


def main(path: str) -> None:
    w = generate(processes=300, users=150, seed=5)
    s = StreamsSettings(allowed_lateness_ms=w.lateness_ms)
    reduced = simulate_domains(w.hiring + w.logins, s, max_rows=100)
    b = ChdbBackend(Path(path), "marts")
    migrate(b, "embedded")
    queue = {src.topic: src.table for src in all_sources()}

    def insert(topic: str, rows: list[dict[str, Any]]) -> None:
        data = "\n".join(json.dumps(r)[:-1] + META for r in rows)
        b.insert(queue[topic], "JSONEachRow", data.encode())

    for topic in ("status.hiring.process", "dim.hiring.position", "dim.hiring.company", "status.account.security"):
        insert(topic, list(reduced.rows[topic].values()))
    raw: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for topic, _, row in w.activity + w.logins:
        raw[topic].append(row)
    for topic, rows in raw.items():
        insert(topic, rows)

    def view(sql: str, *keys: str) -> dict[Any, dict[str, Any]]:
        lines = b.session.query(sql, "JSONEachRow").bytes().decode().splitlines()
        rows = [json.loads(x) for x in lines]
        return {(tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]): r for r in rows}

    statuses = oracle.hiring(w.hiring, s.partitions, int(s.hiring_ghost_after_days * DAY))
    procs = so.hiring_processes(statuses, w.hiring)
    records = w.activity + w.logins
    cols = ("applications", "offers", "rejections", "withdrawals", "ghosted")
    daily = {(d.isoformat(), c): dict(zip(cols, v, strict=True))
             for (d, c), v in so.application_daily_stats(procs).items()}  # fmt: skip
    tenant = {(t, d.isoformat()): v for (t, d), v in so.tenant_activity(records).items()}
    api = {(e, h.strftime("%Y-%m-%d %H:%M:%S")): v for (e, h), v in so.api_latency_hourly(records).items()}
    checks: dict[str, tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]]] = {
        "hiring_processes": (procs, view("SELECT * FROM hiring_processes", "process_id")),
        "active_applications": (so.active_applications(procs),
                                view("SELECT * FROM active_applications", "process_id")),
        "interview_analytics": (so.interview_analytics(procs),
                                view("SELECT * FROM interview_analytics", "company_id")),
        "application_daily_stats": (daily, view("SELECT * FROM application_daily_stats", "day", "company_id")),
        "tenant_activity_daily": (tenant, view("SELECT * FROM tenant_activity_daily", "tenant_id", "day")),
        "api_latency_hourly": (api, view("SELECT * FROM api_latency_hourly", "endpoint", "hour")),
        "feature_adoption": (so.feature_adoption(records),
                             view("SELECT * FROM feature_adoption", "tenant_id", "feature")),
    }  # fmt: skip
    report = {name: {"rows": len(want), "diffs": _diff(want, got)[:5]} for name, (want, got) in checks.items()}
    flagged = sum(r["duplicate_active"] for r in checks["active_applications"][0].values())
    report["duplicates_flagged"] = {"rows": flagged, "diffs": []}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
