"""Run in a child process: migrate an embedded warehouse, load a discovery workload that spans 2023-11-22 (both
story reach formulas), and compare ``post_ranks`` and ``story_reach`` with ``tests/support/posts_oracle.py``, and
``profile_audience_info``, ``post_trending`` and ``genre_overview`` with ``tests/support/audience_trends_oracle.py``.
Prints a JSON report (see ``tests/support/chdb_check.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from clickhouse_ddl.backends import ChdbBackend
from clickhouse_ddl.runner import migrate
from tests.support import audience_trends_oracle as ato
from tests.support import oracle
from tests.support import posts_oracle as po
from tests.support.discovery_marts_check import diff, load, view
from tests.support.workload import DAY, HOUR, generate

KEYS = {"post_ranks": ("profile_id", "post_class", "post_id"), "story_reach": ("post_id",),
        "profile_audience_info": ("profile_id",), "post_trending": ("period", "platform", "category", "post_id"),
        "genre_overview": ("category", "platform", "month")}  # fmt: skip


def main(path: str) -> None:
    w = generate(profiles=80, days=200, posts_per_profile=30, seed=43, deletes=True, discovery=True,
                 lateness_ms=90 * DAY, end_ms=1_707_000_000_000)  # fmt: skip  # 2023-07 .. 2024-02
    now = w.end_ms + 2 * HOUR
    b = ChdbBackend(Path(path), "marts")
    migrate(b, "embedded")
    load(b, w, now)
    final = oracle.compute(w, now)
    profiles, posts = final["metrics.profile.rolling"], final["metrics.post.rolling"]
    snapshots = [row for topic, _, row in w.arrival if topic == "social.profile.snapshot"]
    want: dict[str, dict[Any, dict[str, Any]]] = {
        "post_ranks": po.post_ranks(posts),
        "story_reach": po.story_reach(snapshots, profiles, posts),
        "profile_audience_info": ato.audience_info(w, profiles),
        "post_trending": ato.trending(w, profiles, posts),
        "genre_overview": ato.genre_overview(profiles, posts),
    }
    report = {
        name: {"rows": len(rows), "diffs": diff(rows, view(b, name, KEYS[name]))[:5]} for name, rows in want.items()
    }
    early = [p for p, r in want["story_reach"].items() if r["estimated"] and r["story_reach"] is not None
             and posts[p]["published_at"] < po.SWITCH_MS]  # fmt: skip
    late = [p for p, r in want["story_reach"].items() if r["estimated"] and r["story_reach"] is not None
            and posts[p]["published_at"] >= po.SWITCH_MS]  # fmt: skip
    report["estimated_before_switch"] = {"rows": len(early), "diffs": []}
    report["estimated_after_switch"] = {"rows": len(late), "diffs": []}
    trend = want["post_trending"]
    for name in ato.WINDOWS:
        report[f"trending_{name}"] = {"rows": sum(1 for k in trend if k[0] == name), "diffs": []}
    report["trending_cut"] = {"rows": sum(1 for r in trend.values() if r["trending_rank"] == ato.TRENDING), "diffs": []}
    report["new_in_window"] = {"rows": sum(1 for k, r in trend.items() if r["engagement_start"] == 0), "diffs": []}
    cut = [r for r in want["profile_audience_info"].values() if len(r["top_countries"]) == ato.TOP]
    report["audience_top_cut"] = {"rows": len(cut), "diffs": []}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
