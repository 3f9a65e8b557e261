"""Run in a child process (chdb holds one data path per process): migrate an embedded warehouse, insert the
profile agent's rows (from the batch simulation) and the raw snapshots, audience readings and insights into the
source tables, and compare the discovery profile, the leaderboard, the growth series and the insights with
``tests/support/discovery_oracle.py`` over the stream oracle's rows. Prints a JSON report."""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from clickhouse_ddl.backends import ChdbBackend
from clickhouse_ddl.runner import all_sources, migrate
from streams.settings import StreamsSettings
from tests.support import discovery_oracle as do
from tests.support import oracle
from tests.support.stream_sim import simulate
from tests.support.workload import DAY, HOUR, Workload, generate

META = ',"_topic":"t","_partition":0,"_offset":0,"_timestamp_ms":null,"_raw_message":"","_error":""}'
RAW = ("social.profile.snapshot", "social.profile.audience", "social.profile.insight", "social.post.snapshot")


def _norm(got: Any, want: Any) -> Any:
    if isinstance(want, bool) and isinstance(got, int):
        return bool(got)
    if isinstance(got, str) and isinstance(want, int) and not isinstance(want, bool):
        if ":" in got:
            return int(datetime.fromisoformat(got).replace(tzinfo=UTC).timestamp() * 1000)
        return int(got) if got.lstrip("-").isdigit() else got
    if isinstance(got, dict) and isinstance(want, dict):
        return {k: _norm(v, want.get(k)) for k, v in got.items()}
    return got


def same(got: Any, want: Any) -> bool:
    g = _norm(got, want)
    if isinstance(want, float) and isinstance(g, (int, float)) and not isinstance(g, bool):
        return math.isclose(g, want, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(want, dict) and isinstance(g, dict):
        return set(g) == set(want) and all(same(g[k], v) for k, v in want.items())
    return bool(g == want)


def diff(want: dict[Any, dict[str, Any]], got: dict[Any, dict[str, Any]]) -> list[str]:
    if set(want) != set(got):
        return [f"keys differ ({len(set(want) ^ set(got))}): {sorted(map(str, set(want) ^ set(got)))[:3]}"]
    return [f"{k} {c}: {got[k][c]!r} != {v!r}" for k, row in want.items() for c, v in row.items()
            if not same(got[k][c], v)]  # fmt: skip


def _key(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def keyed(rows: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Oracle keys with dates as ISO text (what ClickHouse's JSON gives)."""
    return {(tuple(_key(x) for x in k) if isinstance(k, tuple) else k): r for k, r in rows.items()}


def workload() -> Workload:
    return generate(profiles=120, days=410, posts_per_profile=14, seed=41, deletes=True, discovery=True,
                    lateness_ms=90 * DAY)  # fmt: skip


def expected(w: Workload, now: int) -> dict[str, dict[Any, dict[str, Any]]]:
    final = oracle.compute(w, now)
    profiles, posts = final["metrics.profile.rolling"], final["metrics.post.rolling"]
    return {
        "discovery_profile_graded": keyed(do.discovery(w, profiles)),
        "leaderboard": keyed(do.leaderboard(w, profiles, posts)),
        "profile_series_daily": keyed(do.series_daily(w, profiles)),
        "profile_series_daily_filled": keyed(do.series_daily_filled(w, profiles)),
        "profile_series_weekly": keyed(do.series_weekly(w, profiles)),
        "profile_series_monthly": keyed(do.series_monthly(w, profiles)),
        "profile_insights": keyed(do.insights(w, profiles)),
    }


KEYS = {
    "discovery_profile_graded": ("profile_id",),
    "leaderboard": ("month", "platform", "profile_id"),
    "profile_series_daily": ("profile_id", "day"),
    "profile_series_daily_filled": ("profile_id", "day"),
    "profile_series_weekly": ("profile_id", "week"),
    "profile_series_monthly": ("profile_id", "month"),
    "profile_insights": ("profile_id", "day", "content_type"),
}


def load(b: ChdbBackend, w: Workload, now: int) -> None:
    reduced = simulate(w, StreamsSettings(allowed_lateness_ms=w.lateness_ms), now)
    queue = {src.topic: src.table for src in all_sources()}

    def insert(topic: str, rows: list[dict[str, Any]]) -> None:
        data = "\n".join(json.dumps(r)[:-1] + META for r in rows)
        b.insert(queue[topic], "JSONEachRow", data.encode())

    for topic in ("metrics.profile.rolling", "metrics.post.rolling"):
        insert(topic, list(reduced.rows[topic].values()))
    raw: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for topic, _, row in w.arrival:
        if topic in RAW:
            raw[topic].append(row)
    for topic, rows in raw.items():
        insert(topic, rows)


def view(b: ChdbBackend, name: str, keys: tuple[str, ...] | None = None) -> dict[Any, dict[str, Any]]:
    """The rows of view ``name`` by their key columns (``KEYS[name]`` unless given)."""
    lines = b.session.query(f"SELECT * FROM {name}", "JSONEachRow").bytes().decode().splitlines()
    keys = keys or KEYS[name]
    rows = [json.loads(x) for x in lines]
    return {(tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]): r for r in rows}


def main(path: str) -> None:
    w = workload()
    now = w.end_ms + 2 * HOUR
    b = ChdbBackend(Path(path), "marts")
    migrate(b, "embedded")
    load(b, w, now)
    want = expected(w, now)
    report = {name: {"rows": len(rows), "diffs": diff(rows, view(b, name))[:5]} for name, rows in want.items()}
    lb = want["leaderboard"].values()
    report["previous_month_ranks"] = {"rows": sum(1 for r in lb if r["last_month_ranks"]), "diffs": []}
    report["months"] = {"rows": len({k[0] for k in want["leaderboard"]}), "diffs": []}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
