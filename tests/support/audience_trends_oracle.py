"""Independent oracle of the profile page's audience, the trending posts and the genre overview
(docs/discovery.md), in plain Python over a workload's raw audience readings and post snapshots and the stream
oracle's final profile and post rows; it shares no code with the warehouse views."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime
from typing import Any

from tests.support.workload import DAY, Workload

TOP = 5
TRENDING = 10
WINDOWS = {"24h": DAY, "7d": 7 * DAY}


def _raw(w: Workload, topic: str) -> list[dict[str, Any]]:
    """Each reading of ``topic`` once (a re-delivered copy has the same event id and values)."""
    return list({r["event_id"]: r for t, _, r in w.arrival if t == topic}.values())


def _gone(pid: str, profiles: dict[str, dict[str, Any]]) -> bool:
    return bool(profiles.get(pid, {}).get("deleted"))


def _largest(shares: dict[str, float], n: int) -> dict[str, float]:
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def audience_info(w: Workload, profiles: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for r in _raw(w, "social.profile.audience"):
        seen = newest.get(r["profile_id"])
        if seen is None or (r["event_time"], str(r["event_id"])) > (seen["event_time"], str(seen["event_id"])):
            newest[r["profile_id"]] = r
    out: dict[str, dict[str, Any]] = {}
    for pid, r in newest.items():
        if _gone(pid, profiles):
            continue
        gender = r["gender"] or {}
        out[pid] = {
            "platform": r["platform"], "gender": gender, "age": r["age"],
            "top_countries": _largest(r["countries"], TOP), "top_cities": _largest(r["cities"], TOP),
            "languages": r["languages"], "authenticity": r["authenticity"], "reachability": r["reachability"],
            "dominant_gender": next(iter(_largest(gender, 1)), None), "as_of": r["event_time"],
        }  # fmt: skip
    return out


def _alive_posts(profiles: dict[str, dict[str, Any]], posts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Posts (not stories) not deleted, of a creator not deleted who has a category, with that category."""
    out = {}
    for pid, p in posts.items():
        creator = profiles.get(p["profile_id"])
        if p.get("deleted") or p["post_type"] == "story" or creator is None or creator.get("deleted"):
            continue
        if creator.get("category") is not None:
            out[pid] = {**p, "category": creator["category"]}
    return out


def trending(w: Workload, profiles: dict[str, dict[str, Any]], posts: dict[str, dict[str, Any]]) -> dict[tuple, dict]:
    snaps = _raw(w, "social.post.snapshot")
    end = max(r["event_time"] for r in snaps)
    by_post: dict[str, list[dict[str, Any]]] = {}
    for r in snaps:
        by_post.setdefault(r["post_id"], []).append(r)
    alive = _alive_posts(profiles, posts)

    def engagement_at(readings: list[dict[str, Any]], t: int) -> int | None:
        upto = [r for r in readings if r["event_time"] <= t]
        if not upto:
            return None
        r = max(upto, key=lambda x: (x["event_time"], str(x["event_id"])))
        return int(r["likes"] + r["comments"])

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for pid, p in alive.items():
        readings = by_post.get(pid, [])
        for name, length in WINDOWS.items():
            start = end - length
            if not any(start < r["event_time"] <= end for r in readings):
                continue
            before = engagement_at(readings, start)
            if before is None and not p["published_at"] > start:
                continue
            base = before if before is not None else 0
            now = engagement_at(readings, end)
            assert now is not None
            groups.setdefault((name, p["platform"], p["category"]), []).append({
                "post_id": pid, "profile_id": p["profile_id"], "post_type": p["post_type"],
                "published_at": p["published_at"], "engagement_start": base, "engagement_end": now,
                "engagement_growth": now - base,
            })  # fmt: skip
    out: dict[tuple, dict] = {}
    for (name, platform, category), rows in groups.items():
        ranked = sorted(rows, key=lambda r: (-r["engagement_growth"], r["post_id"]))[:TRENDING]
        for i, r in enumerate(ranked):
            out[(name, platform, category, r["post_id"])] = {**r, "trending_rank": i + 1}
    return out


def _month(ms: int) -> str:
    d = datetime.fromtimestamp(ms / 1000, UTC).date()
    return date(d.year, d.month, 1).isoformat()


def genre_overview(profiles: dict[str, dict[str, Any]], posts: dict[str, dict[str, Any]]) -> dict[tuple, dict]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for p in _alive_posts(profiles, posts).values():
        groups.setdefault((p["category"], p["platform"], _month(p["published_at"])), []).append(p)
    out: dict[tuple, dict] = {}
    for key, rows in groups.items():
        rates = [r["engagement_rate"] for r in rows if r.get("engagement_rate") is not None]
        out[key] = {"creators": len({r["profile_id"] for r in rows}), "posts": len(rows),
                    "median_engagement_rate": statistics.median(rates) if rates else None}  # fmt: skip
    return out
