"""Independent oracle for the serving tables: what the marts must hold, computed in plain Python from the raw
events and the stream oracle's rows (``tests/oracle.py``), straight from the definitions in DESIGN.md."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from tests.support.workload import Workload

GRADED = {"engagement_grade": "engagement_rate", "likes_grade": "avg_likes", "comments_grade": "avg_comments",
          "views_grade": "avg_views", "growth_grade": "growth_rate_30d",
          "posts_per_week_grade": "avg_posts_per_week"}  # fmt: skip


def _valid(x: Any) -> bool:
    return x is not None and math.isfinite(x) and x != 0


def percentile_inc(values: list[float], p: float) -> float:
    """Linear interpolation between order statistics (Excel's PERCENTILE.INC)."""
    v = sorted(values)
    pos = (len(v) - 1) * p
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def grade(x: Any, q: list[float] | None) -> str | None:
    if not _valid(x) or not q:
        return None
    for threshold, name in ((q[3], "Excellent"), (q[2], "Very Good"), (q[1], "Good"), (q[0], "Average")):
        if x > threshold:
            return name
    return "Poor"


def live(rows: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """What a serving table holds of an oracle topic: the entities not deleted, without the ``deleted`` field."""
    return {k: {c: v for c, v in r.items() if c != "deleted"} for k, r in rows.items() if not r.get("deleted")}


def gone(profiles: dict[str, dict[str, Any]]) -> set[str]:
    return {pid for pid, r in profiles.items() if r.get("deleted")}


def profile_summary(profiles: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Graded within each follower group, over the profiles not deleted."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in live(profiles).values():
        groups[row["follower_group"]].append(row)
    out = {}
    for rows in groups.values():
        thresholds = {}
        for col, metric in GRADED.items():
            vals = [r[metric] for r in rows if _valid(r[metric])]
            thresholds[col] = [percentile_inc(vals, p) for p in (0.4, 0.6, 0.75, 0.9)] if vals else None
        for r in rows:
            out[r["profile_id"]] = {**r, **{col: grade(r[m], thresholds[col]) for col, m in GRADED.items()}}
    return out


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _month(d: date) -> date:
    return d.replace(day=1)


def _prev_month(m: date) -> date:
    return date(m.year - 1, 12, 1) if m.month == 1 else date(m.year, m.month - 1, 1)


def followers_daily(w: Workload, deleted: set[str] | frozenset[str] = frozenset()) -> dict[tuple[str, str, date], int]:
    """Every snapshot sent (late ones too: the daily series is raw data), the newest of each day; deleted profiles
    left out."""
    best: dict[tuple[str, str, date], tuple[int, int]] = {}
    for topic, _, row in w.arrival:
        if topic != "social.profile.snapshot" or row["profile_id"] in deleted:
            continue
        k = (row["profile_id"], row["platform"], _day(row["event_time"]))
        if k not in best or row["event_time"] > best[k][0]:
            best[k] = (row["event_time"], row["followers"])
    return {k: v[1] for k, v in best.items()}


def leaderboard(
    w: Workload, profiles: dict[str, dict[str, Any]], posts: dict[str, dict[str, Any]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """(month, platform, scope, scope_value, metric, profile_id) -> {value, rank, prev_rank}; deleted profiles and
    posts left out."""
    deleted = gone(profiles)
    last: dict[tuple[str, str, date], tuple[int, int]] = {}
    for topic, _, row in w.arrival:
        if topic != "social.profile.snapshot" or row["profile_id"] in deleted:
            continue
        k = (row["profile_id"], row["platform"], _month(_day(row["event_time"])))
        if k not in last or row["event_time"] > last[k][0]:
            last[k] = (row["event_time"], row["followers"])
    views: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for p in live(posts).values():
        acc = views[(p["profile_id"], _month(_day(p["published_at"])))]
        acc[0] += p["views"] or 0
        acc[1] += p["plays"] or 0
    boards: dict[tuple[Any, ...], list[tuple[str, float]]] = defaultdict(list)
    for (pid, platform, month), (_, followers) in last.items():
        prev = last.get((pid, platform, _prev_month(month)))
        v = views.get((pid, month), [0, 0])
        metrics = {"followers": float(followers), "views": float(v[0]), "plays": float(v[1])}
        if prev is not None:
            metrics["growth"] = float(followers - prev[1])
        attrs = profiles.get(pid, {})
        cat, lang = attrs.get("category") or "", attrs.get("language") or ""
        scopes = [("global", "")]
        scopes += [("category", cat)] if cat else []
        scopes += [("language", lang)] if lang else []
        scopes += [("category_language", f"{cat}|{lang}")] if cat and lang else []
        for scope, scope_value in scopes:
            for metric, value in metrics.items():
                boards[(month, platform, scope, scope_value, metric)].append((pid, value))
    ranked: dict[tuple[Any, ...], dict[str, Any]] = {}
    for board, entries in boards.items():
        for rank, (pid, value) in enumerate(sorted(entries, key=lambda e: (-e[1], e[0])), start=1):
            ranked[(*board, pid)] = {"value": value, "rank": rank}
    for (month, platform, scope, scope_value, metric, pid), row in ranked.items():
        before = ranked.get((_prev_month(month), platform, scope, scope_value, metric, pid))
        row["prev_rank"] = before["rank"] if before else None
    return ranked


def scrape_health_hourly(w: Workload) -> dict[tuple[str, str, datetime], int]:
    """(flow, status, hour) -> distinct request ids, over every status event sent."""
    reqs: dict[tuple[str, str, datetime], set[str]] = defaultdict(set)
    for topic, _, row in w.arrival:
        if topic == "social.scrape.status":
            t = datetime.fromtimestamp(row["event_time"] / 1000, UTC).replace(minute=0, second=0, microsecond=0)
            reqs[(row["flow"], row["status"], t)].add(row["request_id"])
    return {k: len(v) for k, v in reqs.items()}
