"""Independent oracle of the post ranker and the story reach (docs/discovery.md), in plain Python over the stream
oracle's final post and profile rows and the raw profile snapshots; it shares no code with the warehouse views."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

SWITCH_MS = int(datetime(2023, 11, 22, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000


def _ranked(rows: list[dict[str, Any]], key: Any) -> dict[str, int]:
    return {r["post_id"]: i + 1 for i, r in enumerate(sorted(rows, key=key))}


def _tail(r: dict[str, Any]) -> tuple[Any, ...]:
    return (-r["published_at"], r["post_id"])


def _nulls_last(field: str) -> Any:
    return lambda r: (r[field] is None, -(r[field] or 0), -r["likes"], -r["comments"], *_tail(r))


def post_ranks(posts: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in posts.values():
        if not r.get("deleted"):
            groups.setdefault((r["profile_id"], r["post_class"]), []).append(r)
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (profile, cls), rows in groups.items():
        # newest first; equal publish times: the smaller post id first
        recent = sorted(rows, key=lambda r: (-r["published_at"], r["post_id"]))[:12]

        likes = _ranked(recent, lambda p: (-p["likes"], -p["comments"], *_tail(p)))
        comments = _ranked(recent, lambda p: (-p["comments"], -p["likes"], *_tail(p)))
        plays, views = _ranked(recent, _nulls_last("plays")), _ranked(recent, _nulls_last("views"))
        for i, r in enumerate(recent):
            pid = r["post_id"]
            out[(profile, cls, pid)] = {"recency_rank": i + 1, "likes_rank_by_class": likes[pid],
                                        "comments_rank_by_class": comments[pid], "plays_rank_by_class": plays[pid],
                                        "views_rank_by_class": views[pid], "likes": r["likes"]}  # fmt: skip
    return out


def story_reach(
    snapshots: list[dict[str, Any]], profiles: dict[str, dict[str, Any]], posts: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``snapshots``: every profile snapshot sent (duplicates and late ones too)."""
    newest: dict[tuple[str, int], tuple[int, str, int]] = {}  # (profile, UTC day) -> (event_time, event_id, followers)
    for s in snapshots:
        k = (s["profile_id"], s["event_time"] // DAY_MS)
        cand = (s["event_time"], s["event_id"], s["followers"])
        if k not in newest or cand[:2] > newest[k][:2]:
            newest[k] = cand
    days: dict[str, list[tuple[int, int]]] = {}
    for (profile, day), (_, _, followers) in newest.items():
        days.setdefault(profile, []).append((day, followers))
    out: dict[str, dict[str, Any]] = {}
    for r in posts.values():
        if r["post_type"] != "story" or r.get("deleted"):
            continue
        prof = profiles.get(r["profile_id"])
        alive = prof is not None and not prof.get("deleted")
        story_day = r["published_at"] // DAY_MS
        earlier = [d for d in days.get(r["profile_id"], []) if d[0] <= story_day] if alive else []
        f = max(earlier)[1] if earlier else None
        er = prof["engagement_rate"] if alive and prof is not None else None
        if r.get("reach") is not None:
            reach: int | None = r["reach"]
        elif f is None or er is None:
            reach = None
        else:
            before = r["published_at"] < SWITCH_MS
            lg = (abs(math.log2(er)) if er > 0 else math.inf) if before else math.log2(er + 2)
            reach = round(-0.000025017 * f + 1.11 * (f * lg * 2 / 100)) if math.isfinite(lg) else None
        out[r["post_id"]] = {"followers_then": f, "engagement_rate": er, "estimated": r.get("reach") is None,
                             "story_reach": reach}  # fmt: skip
    return out
