"""Per-profile state and the rolling metrics of ``../shared/DESIGN.md`` (Metrics and statuses, Social).

Pure functions over a JSON-able state dict. The state holds the follower history the growth metrics need
(every point inside the last 90 days plus the newest point before that: a pruned point can never matter
again), the latest counters of the profile's posts (fed by the post agent, newest ``pv`` wins), and the
profile attributes from its CDC rows. ``v`` counts every distinct change applied, so the newest output row
of a key carries the highest version and is the same on a replay.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from schemas.models import ProfileSnapshot
from streams.admission import admit, prune_ids

DAY_MS = 86_400_000
GROWTH_DAYS = (7, 30, 90)
RECENT_POSTS = 12
RATE_WINDOW_MS = 30 * DAY_MS
VIDEO_TYPES = {"reel", "video", "short"}
GROUPS = ((5_000, "0-5k"), (10_000, "5k-10k"), (50_000, "10k-50k"), (100_000, "50k-100k"),
          (500_000, "100k-500k"), (1_000_000, "500k-1M"))  # fmt: skip

ProfileState = dict[str, Any]


@dataclass
class ProfileOutcome:
    changed: bool = False
    followers_changed: bool = False
    posts_changed: set[str] = field(default_factory=set)
    late_dropped: int = 0
    duplicates: int = 0


def new_state() -> ProfileState:
    return {"v": 0, "ns": 0, "max_t": None, "ids": {}, "hist": [], "attrs": None, "posts": {}, "cdc": None}


def copy_state(state: ProfileState) -> ProfileState:
    """A copy the apply functions may change without touching ``state`` (they assign into ``ids`` and
    ``posts``, insert into and cut ``hist``, and replace ``attrs``/``cdc`` and the history points)."""
    return {**state, "ids": dict(state["ids"]), "hist": list(state["hist"]), "posts": dict(state["posts"])}


def follower_group(followers: int) -> str:
    for bound, name in GROUPS:
        if followers < bound:
            return name
    return "1M+"


def _latest(state: ProfileState) -> list[Any] | None:
    hist = state["hist"]
    return hist[-1] if hist else None


def apply_snapshots(state: ProfileState, events: list[ProfileSnapshot], lateness_ms: int, out: ProfileOutcome) -> None:
    hist: list[list[Any]] = state["hist"]
    before = _latest(state)
    for ev in events:
        if not admit(state, ev.event_id, ev.event_time, lateness_ms, out):
            continue
        state["v"] += 1
        state["ns"] = state.get("ns", 0) + 1
        out.changed = True
        point = [ev.event_time, ev.event_id, ev.followers]
        bisect.insort(hist, point)
        if hist[-1] is point:
            state["attrs"] = {"platform": ev.platform, "handle": ev.handle, "category": ev.category,
                              "language": ev.language, "country": ev.country}  # fmt: skip
    if not out.changed:
        return
    latest = hist[-1]
    # keep the points the growth windows can still reach: t >= latest - 90d, and the newest one before that
    cut = latest[0] - GROWTH_DAYS[-1] * DAY_MS
    i = bisect.bisect_left(hist, [cut])
    if i > 1:
        del hist[: i - 1]
    prune_ids(state, lateness_ms)
    if before is None or before[2] != latest[2]:
        out.followers_changed = True


def apply_cdc(state: ProfileState, rows: list[dict[str, Any]], out: ProfileOutcome) -> None:
    """Profile attributes from ``cdc.public.profiles`` (newest LSN wins; deletes keep the last image)."""
    for row in rows:
        lsn = int(row["source"]["lsn"])
        cdc = state["cdc"]
        if cdc is not None and lsn <= cdc["lsn"]:
            out.duplicates += 1
            continue
        image = row.get("after") or row.get("before") or {}
        state["cdc"] = {"lsn": lsn, "category": image.get("category"), "language": image.get("language"),
                        "handle": image.get("handle"), "deleted": row.get("op") == "d"}  # fmt: skip
        state["v"] += 1
        out.changed = True


def apply_posts(state: ProfileState, rows: list[dict[str, Any]], out: ProfileOutcome) -> None:
    """Latest post counters from the post agent; a row replaces the stored one when its ``pv`` is higher."""
    posts: dict[str, list[Any]] = state["posts"]
    for r in rows:
        cur = posts.get(r["post_id"])
        if cur is not None and r["pv"] <= cur[0]:
            out.duplicates += 1
            continue
        posts[r["post_id"]] = [r["pv"], r["published_at"], r["likes"], r["comments"], r["views"], r["plays"],
                               r["post_type"], r["platform"]]  # fmt: skip
        state["v"] += r["pv"] - (cur[0] if cur else 0)
        out.changed = True
        out.posts_changed.add(r["post_id"])


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


_GROWTH_KEYS = [(d, f"followers_growth_{d}d", f"growth_rate_{d}d") for d in GROWTH_DAYS]


def profile_row(profile_id: str, state: ProfileState) -> dict[str, Any] | None:
    """The ``metrics.profile.rolling`` row (fields after the envelope), or None before any snapshot."""
    latest = _latest(state)
    if latest is None:
        return None
    as_of, _, followers = latest
    hist = state["hist"]
    row: dict[str, Any] = {"profile_id": profile_id, "version": state["v"], "as_of": as_of,
                           "platform": state["attrs"]["platform"], "followers": followers}  # fmt: skip
    for days, growth_key, rate_key in _GROWTH_KEYS:  # field order does not matter: the output line orders them
        i = bisect.bisect_right(hist, [as_of - days * DAY_MS, "\uffff"]) - 1
        earlier = hist[i][2] if i >= 0 else None
        growth = None if earlier is None else followers - earlier
        row[growth_key] = growth
        row[rate_key] = None if growth is None or not earlier else growth / earlier * 100
    posts = sorted(state["posts"].items(), key=lambda kv: (kv[1][1], kv[0]), reverse=True)
    recent = posts[:RECENT_POSTS]
    likes = [p[2] for _, p in recent]
    comments = [p[3] for _, p in recent]
    views = [p[4] for _, p in recent if p[4] is not None]
    avg_likes, avg_comments = _mean(likes), _mean(comments)
    row["avg_likes"] = avg_likes
    row["avg_comments"] = avg_comments
    row["avg_views"] = _mean(views)
    row["engagement_rate"] = (
        (avg_likes + avg_comments) / followers * 100
        if avg_likes is not None and avg_comments is not None and followers > 0
        else None
    )
    row["likes_to_comment_ratio"] = avg_likes / avg_comments if avg_likes is not None and avg_comments else None
    if posts:
        newest = posts[0][1][1]
        in_window = sum(1 for _, p in posts if p[1] > newest - RATE_WINDOW_MS)
        row["avg_posts_per_week"] = in_window * 7 / 30
    else:
        row["avg_posts_per_week"] = None
    row["likes_spread"] = math.sqrt(sum((x - avg_likes) ** 2 for x in likes) / len(likes)) if likes else None
    row["posts_counted"] = len(recent)
    row["follower_group"] = follower_group(followers)
    attrs, cdc = state["attrs"], state["cdc"] or {}
    row["category"] = cdc.get("category") or attrs.get("category")
    row["language"] = cdc.get("language") or attrs.get("language")
    return row


PV_BITS = 24  # a post's own version stays below 2**24 (16.7M accepted changes of one post)


def post_rows(profile_id: str, state: ProfileState, post_ids: set[str] | None) -> list[dict[str, Any]]:
    """``metrics.post.rolling`` rows for ``post_ids`` (all posts when None); engagement rate against the
    profile's latest followers.

    A row depends on the profile's accepted snapshots (followers) and the post's own version only, so its
    version is (snapshots accepted, post version) in one integer: equal versions mean equal rows whatever
    order the topics interleaved in (a restart re-processes them in another), and the final row has the
    highest version. (The profile's change counter would not do: a post row is not re-sent on every change.)"""
    latest = _latest(state)
    followers = latest[2] if latest else None
    out = []
    for post_id in sorted(state["posts"] if post_ids is None else post_ids):
        pv, published_at, likes, comments, views, plays, post_type, platform = state["posts"][post_id]
        engagement = likes + comments
        out.append({
            "post_id": post_id, "version": (state.get("ns", 0) << PV_BITS) + pv, "profile_id": profile_id,
            "platform": platform,
            "post_type": post_type, "published_at": published_at, "likes": likes, "comments": comments,
            "views": views, "plays": plays, "engagement": engagement,
            "engagement_rate": engagement / followers * 100 if followers else None,
            "post_class": "video" if post_type in VIDEO_TYPES else "image",
        })  # fmt: skip
    return out
