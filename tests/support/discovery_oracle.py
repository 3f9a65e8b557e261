"""Independent oracle for the discovery profile, leaderboards, growth series and insights, computed straight from
docs/discovery.md (sections "Discovery profile", "Leaderboards", "Growth series", "Insights"). Plain Python;
shares no code or logic with the product. The rolling values are an input (``profiles``: profile_id -> the
final rolling row), so are the final post rows (``posts``); everything else comes from ``w.arrival``.

Choices where the doc leaves room: profile ids compare as strings; a profile with null followers gets no
country/category rank; a leaderboard row exists for each (month, profile) with at least one snapshot in the month;
a rank map holds only the ranks the profile has (a profile without a value or scope value is left out); posts,
audience readings and insights belong to a profile by ``profile_id`` alone.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.support.workload import Workload

SNAPSHOT = "social.profile.snapshot"
AUDIENCE = "social.profile.audience"
INSIGHT = "social.profile.insight"

METRICS = (
    "followers", "avg_likes", "avg_comments", "avg_views", "avg_plays", "comments_rate", "engagement_rate",
    "likes_to_comment_ratio", "likes_spread", "avg_posts_per_week", "reels_reach", "image_reach", "story_reach",
    "reels_impressions", "image_impressions", "post_count", "followers_growth7d", "followers_growth30d",
    "followers_growth90d", "followers_growth1y", "audience_reachability", "audience_authencity",
)  # fmt: skip

# discovery metric -> rolling key (the rest are the same name; the audience two come from audience readings)
_ROLLING_KEY = {
    "followers_growth7d": "growth_rate_7d",
    "followers_growth30d": "growth_rate_30d",
    "followers_growth90d": "growth_rate_90d",
    "followers_growth1y": "growth_rate_365d",
}
_AUDIENCE_KEY = {"audience_reachability": "reachability", "audience_authencity": "authenticity"}
ATTRIBUTES = ("platform", "handle", "full_name", "is_verified", "is_business", "profile_type", "category",
              "language", "country", "follower_group", "as_of")  # fmt: skip
GRADES = ((0.90, "Excellent"), (0.75, "Very Good"), (0.60, "Good"), (0.40, "Average"))

RANK_METRICS = ("followers", "followers_change", "engagement_rate", "views", "plays")
RANK_SCOPES = {
    "global": (),
    "category": ("category",),
    "language": ("language",),
    "category_language": ("category", "language"),
    "country": ("country",),
    "profile_type": ("profile_type",),
}


# ---- helpers -------------------------------------------------------------------------------------------------


def utc_day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def month_of(d: date) -> date:
    return d.replace(day=1)


def previous_month(m: date) -> date:
    return date(m.year - 1, 12, 1) if m.month == 1 else date(m.year, m.month - 1, 1)


def _order(row: dict[str, Any]) -> tuple[int, str]:
    return (row["event_time"], row["event_id"])


def _rows(w: Workload, topic: str) -> list[dict[str, Any]]:
    return [row for t, _, row in w.arrival if t == topic]


def _newest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(rows, key=_order) if rows else None


def _newest_by(rows: list[dict[str, Any]], key) -> dict[Any, dict[str, Any]]:
    """key(row) -> the newest row of that key by (event_time, event_id)."""
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        k = key(row)
        if k not in out or _order(row) > _order(out[k]):
            out[k] = row
    return out


def _kept(pid: str, profiles: dict[str, dict[str, Any]]) -> bool:
    """Series, boards, insights: out only when the rolling row says deleted."""
    return not (pid in profiles and profiles[pid].get("deleted"))


def _finite(v: Any) -> bool:
    return v is not None and not isinstance(v, bool) and math.isfinite(v)


def _mean(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile_inc(values: list[float], p: float) -> float:
    """Excel PERCENTILE.INC: linear interpolation between order statistics at position p * (n - 1)."""
    xs = sorted(values)
    h = p * (len(xs) - 1)
    lo = math.floor(h)
    if lo + 1 >= len(xs):
        return float(xs[-1])
    return xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo])


def grade(value: Any, group_values: list[Any]) -> str | None:
    if not _finite(value) or value == 0:
        return None
    vals = [v for v in group_values if _finite(v) and v != 0]
    if not vals:
        return None
    for p, label in GRADES:
        if value > percentile_inc(vals, p):
            return label
    return "Poor"


def _positions(entries: list[tuple[Any, str]]) -> dict[str, int]:
    """(value, profile_id) -> 1-based position by value descending, ties to the smaller profile id."""
    ordered = sorted(entries, key=lambda e: e[1])
    ordered.sort(key=lambda e: e[0], reverse=True)  # stable: equal values keep the id order
    return {pid: i + 1 for i, (_, pid) in enumerate(ordered)}


def dominant_gender(reading: dict[str, Any] | None) -> str | None:
    gender = (reading or {}).get("gender") or {}
    if not gender:
        return None
    return min(gender, key=lambda label: (-gender[label], label))


def search_phrase(handle: Any, full_name: Any, category: Any, country: Any) -> str:
    return " ".join(str(p) for p in (handle, full_name, category, country) if p is not None and p != "").lower()


# ---- discovery profile ---------------------------------------------------------------------------------------


def discovery(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    audience = _newest_by(_rows(w, AUDIENCE), lambda r: r["profile_id"])
    live = {pid: p for pid, p in profiles.items() if not p.get("deleted")}
    rows: dict[str, dict[str, Any]] = {}
    for pid, p in live.items():
        row: dict[str, Any] = {"profile_id": pid}
        row.update({a: p.get(a) for a in ATTRIBUTES})
        reading = audience.get(pid)
        for m in METRICS:
            if m in _AUDIENCE_KEY:
                row[m] = reading.get(_AUDIENCE_KEY[m]) if reading else None
            else:
                row[m] = p.get(_ROLLING_KEY.get(m, m))
        row["search_phrase"] = search_phrase(p.get("handle"), p.get("full_name"), p.get("category"), p.get("country"))
        row["audience_gender"] = dominant_gender(reading)
        rows[pid] = row

    groups: dict[tuple[Any, Any], list[str]] = {}
    for pid, row in rows.items():
        groups.setdefault((row["platform"], row["follower_group"]), []).append(pid)
    for members in groups.values():
        for m in METRICS:
            values = [rows[pid][m] for pid in members]
            finite = [v for v in values if _finite(v)]
            avg = sum(finite) / len(finite) if finite else None
            for pid in members:
                rows[pid][f"{m}_grade"] = grade(rows[pid][m], values)
                rows[pid][f"group_avg_{m}"] = avg

    for rank, keys in (("country_rank", ("country",)), ("category_rank", ("country", "category"))):
        scoped: dict[tuple[Any, ...], list[tuple[Any, str]]] = {}
        for pid, row in rows.items():
            row[rank] = None
            if all(row[k] is not None for k in keys) and row["followers"] is not None:
                scope = (row["platform"], *(row[k] for k in keys))
                scoped.setdefault(scope, []).append((row["followers"], pid))
        for entries in scoped.values():
            for pid, pos in _positions(entries).items():
                rows[pid][rank] = pos
    return rows


# ---- leaderboards --------------------------------------------------------------------------------------------


def _monthly_snapshots(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[tuple[str, date], dict[str, Any]]:
    snaps = [r for r in _rows(w, SNAPSHOT) if _kept(r["profile_id"], profiles)]
    return _newest_by(snaps, lambda r: (r["profile_id"], month_of(utc_day(r["event_time"]))))


def leaderboard(
    w: Workload, profiles: dict[str, dict[str, Any]], posts: dict[str, dict[str, Any]]
) -> dict[tuple[date, str, str], dict[str, Any]]:
    disc = discovery(w, profiles)
    monthly = _monthly_snapshots(w, profiles)
    month_posts: dict[tuple[str, date], list[dict[str, Any]]] = {}
    for post in posts.values():
        if post.get("deleted") or post["post_type"] == "story":
            continue
        month_posts.setdefault((post["profile_id"], month_of(utc_day(post["published_at"]))), []).append(post)

    values: dict[tuple[date, str], dict[str, Any]] = {}  # (month, profile_id) -> row without ranks
    for (pid, month), snap in monthly.items():
        followers = snap["followers"]
        prev = monthly.get((pid, previous_month(month)))
        ps = month_posts.get((pid, month), [])
        avg_likes = _mean([p["likes"] for p in ps])
        avg_comments = _mean([p["comments"] for p in ps])
        er = None
        if avg_likes is not None and avg_comments is not None and followers:
            er = (avg_likes + avg_comments) / followers * 100
        d = disc.get(pid, {})
        values[(month, pid)] = {
            "platform_profile_id": pid,
            "profile_platform": snap["platform"],
            "handle": d.get("handle"),
            "followers": followers,
            "followers_change": followers - prev["followers"] if prev else None,
            "engagement_rate": er,
            "avg_likes": avg_likes,
            "avg_comments": avg_comments,
            "avg_views": _mean([p.get("views") for p in ps]),
            "avg_plays": _mean([p.get("plays") for p in ps]),
            "views": sum(p["views"] for p in ps if p.get("views") is not None),
            "plays": sum(p["plays"] for p in ps if p.get("plays") is not None),
            "audience_gender": d.get("audience_gender"),
            "search_phrase": d.get("search_phrase"),
        }

    ranks: dict[tuple[date, str, str], dict[str, int]] = {}
    boards: dict[tuple[date, str], list[str]] = {}
    for (month, pid), row in values.items():
        for board in (row["profile_platform"], "all"):
            boards.setdefault((month, board), []).append(pid)
            ranks[(month, board, pid)] = {}
    for (month, board), members in boards.items():
        for metric in RANK_METRICS:
            for scope, keys in RANK_SCOPES.items():
                scoped: dict[tuple[Any, ...], list[tuple[Any, str]]] = {}
                for pid in members:
                    value = values[(month, pid)][metric]
                    attrs = tuple(disc.get(pid, {}).get(k) for k in keys)
                    if value is None or any(a is None for a in attrs):
                        continue
                    scoped.setdefault(attrs, []).append((value, pid))
                for entries in scoped.values():
                    for pid, pos in _positions(entries).items():
                        ranks[(month, board, pid)][f"{metric}_{scope}"] = pos

    out: dict[tuple[date, str, str], dict[str, Any]] = {}
    for (month, board, pid), current in ranks.items():
        row = dict(values[(month, pid)])
        row["current_month_ranks"] = current
        row["last_month_ranks"] = dict(ranks.get((previous_month(month), board, pid), {}))
        out[(month, board, pid)] = row
    return out


# ---- growth series -------------------------------------------------------------------------------------------


def series_daily(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[tuple[str, date], dict[str, Any]]:
    snaps = [r for r in _rows(w, SNAPSHOT) if _kept(r["profile_id"], profiles)]
    newest = _newest_by(snaps, lambda r: (r["profile_id"], utc_day(r["event_time"])))
    return {k: {"followers": r["followers"], "following": r.get("following"), "posts_count": r.get("posts_count")}
            for k, r in newest.items()}  # fmt: skip


def series_daily_filled(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[tuple[str, date], dict[str, Any]]:
    daily = series_daily(w, profiles)
    by_profile: dict[str, list[date]] = {}
    for pid, day in daily:
        by_profile.setdefault(pid, []).append(day)
    out: dict[tuple[str, date], dict[str, Any]] = {}
    for pid, days in by_profile.items():
        day, last = min(days), max(days)
        carried: dict[str, Any] = {}
        while day <= last:
            if (pid, day) in daily:
                carried = daily[(pid, day)]
                out[(pid, day)] = {**carried, "filled": False}
            else:
                out[(pid, day)] = {**carried, "filled": True}
            day += timedelta(days=1)
    return out


def series_weekly(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[tuple[str, date], dict[str, Any]]:
    snaps = [r for r in _rows(w, SNAPSHOT) if _kept(r["profile_id"], profiles)]

    def week(r: dict[str, Any]) -> tuple[str, date]:
        d = utc_day(r["event_time"])
        return (r["profile_id"], d - timedelta(days=d.weekday()))

    newest = _newest_by(snaps, week)
    out: dict[tuple[str, date], dict[str, Any]] = {}
    previous: dict[str, tuple[date, int]] = {}
    for pid, monday in sorted(newest):
        followers = newest[(pid, monday)]["followers"]
        prev = previous.get(pid)
        change = followers - prev[1] if prev and prev[0] == monday - timedelta(days=7) else None
        out[(pid, monday)] = {"followers": followers, "followers_change": change}
        previous[pid] = (monday, followers)
    return out


def series_monthly(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[tuple[str, date], dict[str, Any]]:
    monthly = _monthly_snapshots(w, profiles)
    out: dict[tuple[str, date], dict[str, Any]] = {}
    for (pid, month), snap in monthly.items():
        prev = monthly.get((pid, previous_month(month)))
        change = snap["followers"] - prev["followers"] if prev else None
        out[(pid, month)] = {"followers": snap["followers"], "followers_change": change}
    return out


# ---- insights ------------------------------------------------------------------------------------------------


def insights(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[tuple[str, date, str], dict[str, Any]]:
    rows = [r for r in _rows(w, INSIGHT) if _kept(r["profile_id"], profiles)]
    newest = _newest_by(rows, lambda r: (r["profile_id"], utc_day(r["day"]), r["content_type"]))
    return {k: {"reach": r["reach"], "impressions": r["impressions"], "platform": r["platform"]}
            for k, r in newest.items()}  # fmt: skip
