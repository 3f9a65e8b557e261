"""Per-profile state and the rolling metrics of ``../shared/DESIGN.md`` (Metrics and statuses, Social).

Pure functions over a ``ProfileState``. The state holds the follower history the growth metrics need, the
latest counters of the profile's posts (fed by the post agent, newest version wins), and the profile attributes
from its CDC rows. ``version`` counts every change applied, so the newest output row of a key carries the
highest version and is the same on a replay.

The follower history holds one point per profile and ``resolution_ms`` of event time (an hour by default): the
newest snapshot of that hour, by (event_time, event_id). A profile scraped every second then keeps at most 24
points a day, not 86,400, so its state (rewritten at every change) stays small however often it is scraped.
Beyond ``HOURLY_DAYS`` (counted in UTC days back from the newest point's day) one point per UTC day is kept, the
newest of the day, back to the year window of the 1-year growth (``YEAR_DAYS``); older points (or, when the
allowed lateness is longer, points older than it) go, except the newest one before them: a pruned point can never
matter again. The history is also the snapshots' dedup: a snapshot already in it, or older than its hour's (day's)
point, changes nothing. Definitions: ``docs/discovery.md``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from schemas.models import ProfileSnapshot
from streams.transforms.admission import on_time
from streams.transforms.cdc import label
from streams.transforms.state import Entry, added_at, at

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
GROWTH_DAYS = (7, 30, 90)
RECENT_POSTS = 12
RATE_WINDOW_MS = 30 * DAY_MS
HOURLY_DAYS = 91  # hourly points from the UTC day this many days before the newest point's day (covers 90 d)
YEAR_DAYS = 364  # 1-year growth: against the newest point before the UTC day this many days back
VIDEO_TYPES = {"reel", "video", "short"}
IMAGE_TYPES = {"image", "carousel"}
STORY = "story"
GROUPS = ((5_000, "0-5k"), (10_000, "5k-10k"), (50_000, "10k-50k"), (100_000, "50k-100k"),
          (500_000, "100k-500k"), (1_000_000, "500k-1M"))  # fmt: skip


class FollowerPoint(Entry):
    """One accepted snapshot's follower count; the history is sorted by (event_time, event_id)."""

    __slots__ = ()
    event_time: int = at(0)
    event_id: str = at(1)
    followers: int = at(2)


class PostCounters(Entry):
    """The latest counters of one of the profile's posts (from ``internal.post.by_profile``)."""

    __slots__ = ()
    version: int = at(0)  # the post agent's snapshot count of the post
    published_at: int = at(1)
    likes: int = at(2)
    comments: int = at(3)
    views: int | None = at(4)
    plays: int | None = at(5)
    post_type: str = at(6)
    platform: str = at(7)
    reach: int | None = added_at(8)
    impressions: int | None = added_at(9)
    saves: int | None = added_at(10)


class Attributes(TypedDict, total=False):
    """From the latest snapshot (states written before a key was added lack it)."""

    platform: str
    handle: str
    category: str | None
    language: str | None
    country: str | None
    following: int | None
    posts_count: int | None
    full_name: str | None
    is_verified: bool | None
    is_business: bool | None
    profile_type: str | None


class CdcAttributes(TypedDict):
    """From the newest ``cdc.public.profiles`` change (deletes keep the last image)."""

    lsn: int
    category: str | None
    language: str | None
    handle: str | None
    deleted: bool


@dataclass(slots=True)
class ProfileState:
    version: int = 0  # every distinct change applied
    snapshots_applied: int = 0  # the high part of the post rows' versions
    max_t: int | None = None  # the newest snapshot time admitted (see admission.py)
    history: list[FollowerPoint] = field(default_factory=list)
    attributes: Attributes | None = None
    posts: dict[str, PostCounters] = field(default_factory=dict)
    cdc: CdcAttributes | None = None
    deleted_posts: dict[str, int] = field(default_factory=dict)  # deleted post id -> its counters version then
    deletions: int = 0  # times the profile's deleted flag changed (part of the post rows' versions)

    def copy(self) -> ProfileState:
        """A copy the apply functions may change without touching this one (they assign into ``posts``, insert
        into and cut ``history``, and replace ``attributes``/``cdc`` and the points)."""
        return ProfileState(self.version, self.snapshots_applied, self.max_t, list(self.history),
                            self.attributes, dict(self.posts), self.cdc, dict(self.deleted_posts),
                            self.deletions)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"v": self.version, "ns": self.snapshots_applied, "max_t": self.max_t,
                "hist": self.history, "attrs": self.attributes, "posts": self.posts, "cdc": self.cdc,
                **({"dposts": self.deleted_posts, "dels": self.deletions} if self.deleted_posts or self.deletions
                   else {})}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProfileState:
        # a state from before the hourly history has "ids" (its dedup map): the history does that now
        return cls(d["v"], d.get("ns", 0), d["max_t"], [FollowerPoint(p) for p in d["hist"]],
                   d["attrs"], {k: PostCounters(v) for k, v in d["posts"].items()}, d["cdc"],
                   dict(d.get("dposts", {})), d.get("dels", 0))  # fmt: skip


@dataclass
class ProfileOutcome:
    changed: bool = False
    followers_changed: bool = False
    posts_changed: set[str] = field(default_factory=set)
    late_dropped: int = 0
    late: list[tuple[Any, str]] = field(default_factory=list)  # (the late event, why)
    duplicates: int = 0


def follower_group(followers: int) -> str:
    for bound, name in GROUPS:
        if followers < bound:
            return name
    return "1M+"


def _floors(as_of: int) -> tuple[int, int]:
    """(start of the hourly points, the 1-year growth's floor) for a history whose newest point is ``as_of``."""
    day = as_of // DAY_MS * DAY_MS
    return day - HOURLY_DAYS * DAY_MS, day - YEAR_DAYS * DAY_MS


def _bucket(t: int, hourly_from: int, resolution_ms: int) -> tuple[int, int]:
    return (0, t // resolution_ms) if t >= hourly_from else (1, t // DAY_MS)


def apply_snapshots(state: ProfileState, events: list[ProfileSnapshot], lateness_ms: int, out: ProfileOutcome,
                    resolution_ms: int = HOUR_MS) -> None:  # fmt: skip
    hist = state.history
    before = hist[-1] if hist else None
    for ev in events:
        point = FollowerPoint((ev.event_time, ev.event_id, ev.followers))
        i = bisect.bisect_left(hist, [ev.event_time, ev.event_id])
        if i < len(hist) and hist[i].event_time == ev.event_time and hist[i].event_id == ev.event_id:
            out.duplicates += 1
            continue
        if not on_time(state, ev.event_time, lateness_ms, out, ev):
            continue
        hourly_from, year_floor = _floors(max(hist[-1].event_time, ev.event_time) if hist else ev.event_time)
        bucket = _bucket(ev.event_time, hourly_from, resolution_ms)
        if i < len(hist) and _bucket(hist[i].event_time, hourly_from, resolution_ms) == bucket:
            out.duplicates += 1  # its hour (day) has a newer point: nothing changes
            continue
        cut = min(year_floor, hist[-1].event_time - lateness_ms) if hist else year_floor
        if hist and i == 0 and hist[0].event_time < cut:
            out.duplicates += 1  # older than the kept point before the windows: it could never be read
            continue
        if i > 0 and _bucket(hist[i - 1].event_time, hourly_from, resolution_ms) == bucket:
            i -= 1
            del hist[i]  # the hour's (day's) older point
        hist.insert(i, point)
        state.version += 1
        state.snapshots_applied += 1
        out.changed = True
        if state.max_t is None or ev.event_time > state.max_t:
            state.max_t = ev.event_time
        if hist[-1] is point:
            state.attributes = {"platform": ev.platform, "handle": ev.handle, "category": ev.category,
                                "language": ev.language, "country": ev.country, "following": ev.following,
                                "posts_count": ev.posts_count, "full_name": ev.full_name,
                                "is_verified": ev.is_verified, "is_business": ev.is_business,
                                "profile_type": ev.profile_type}  # fmt: skip
    if not out.changed:
        return
    latest = hist[-1]
    hourly_from, year_floor = _floors(latest.event_time)
    # points before the hourly ones: the newest of each day
    end = bisect.bisect_left(hist, [hourly_from])
    if end > 1:
        older = [
            p
            for k, p in enumerate(hist[:end])
            if k + 1 == end or hist[k + 1].event_time // DAY_MS != p.event_time // DAY_MS
        ]
        if len(older) < end:
            hist[:end] = older
    # keep the points the windows can still reach, and the newest one before them
    cut = min(year_floor, latest.event_time - lateness_ms)
    i = bisect.bisect_left(hist, [cut])
    if i > 1:
        del hist[: i - 1]
    if before is None or before.followers != latest.followers:
        out.followers_changed = True


def apply_cdc(state: ProfileState, rows: list[dict[str, Any]], out: ProfileOutcome) -> None:
    """Profile attributes from ``cdc.public.profiles`` (newest LSN wins); a delete marks the profile deleted and
    keeps the attributes it had (its ``before`` image may hold only the key)."""
    for row in rows:
        lsn = int(row["source"]["lsn"])
        cdc = state.cdc
        if cdc is not None and lsn <= cdc["lsn"]:
            out.duplicates += 1
            continue
        deleted = row.get("op") == "d"
        image = {} if deleted else row.get("after") or {}
        if deleted != bool(cdc and cdc["deleted"]):
            state.deletions += 1
            out.followers_changed = True  # every post row changes with it
        prev: Any = cdc or {}  # a column Debezium could not give (an unchanged TOASTed value) keeps its value
        state.cdc = {"lsn": lsn, "category": label(image, "category", prev.get("category")),
                     "language": label(image, "language", prev.get("language")),
                     "handle": label(image, "handle", prev.get("handle")), "deleted": deleted}  # fmt: skip
        state.version += 1
        out.changed = True


def apply_posts(state: ProfileState, rows: list[dict[str, Any]], out: ProfileOutcome) -> None:
    """Latest post counters from the post agent; a row replaces the stored one when its ``pv`` is higher. A
    deleted post stays (its row says deleted) but leaves the profile's metrics."""
    posts = state.posts
    for r in rows:
        pid = r["post_id"]
        cur = posts.get(pid)
        if cur is not None and r["pv"] <= cur.version:
            out.duplicates += 1
            continue
        posts[pid] = PostCounters((r["pv"], r["published_at"], r["likes"], r["comments"], r["views"], r["plays"],
                                   r["post_type"], r["platform"], r.get("reach"), r.get("impressions"),
                                   r.get("saves")))  # fmt: skip
        if r.get("deleted"):
            state.deleted_posts[pid] = r["pv"]
        else:
            state.deleted_posts.pop(pid, None)
        state.version += r["pv"] - (cur.version if cur else 0)
        out.changed = True
        out.posts_changed.add(pid)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


_GROWTH_KEYS = [(d, f"followers_growth_{d}d", f"growth_rate_{d}d") for d in GROWTH_DAYS]
_BY_CLASS = (("reels", VIDEO_TYPES), ("image", IMAGE_TYPES), ("story", {STORY}))


def _growth(row: dict[str, Any], growth_key: str, rate_key: str, followers: int, earlier: int | None) -> None:
    growth = None if earlier is None else followers - earlier
    row[growth_key] = growth
    row[rate_key] = None if growth is None or not earlier else growth / earlier * 100


def profile_row(profile_id: str, state: ProfileState) -> dict[str, Any] | None:
    """The ``metrics.profile.rolling`` row (fields after the envelope), or None before any snapshot."""
    hist = state.history
    if not hist:
        return None
    as_of, _, followers = hist[-1]
    attrs = state.attributes
    assert attrs is not None  # set by the first point
    row: dict[str, Any] = {"profile_id": profile_id, "version": state.version, "as_of": as_of,
                           "platform": attrs["platform"], "followers": followers}  # fmt: skip
    for days, growth_key, rate_key in _GROWTH_KEYS:  # field order does not matter: the output line orders them
        i = bisect.bisect_right(hist, [as_of - days * DAY_MS, "\uffff"]) - 1
        _growth(row, growth_key, rate_key, followers, hist[i].followers if i >= 0 else None)
    i = bisect.bisect_left(hist, [_floors(as_of)[1]]) - 1  # the newest point before the year floor
    _growth(row, "followers_growth_365d", "growth_rate_365d", followers, hist[i].followers if i >= 0 else None)
    gone = state.deleted_posts
    live = sorted(((k, p) for k, p in state.posts.items() if k not in gone), key=lambda kv: (kv[1].published_at, kv[0]),
                  reverse=True)  # fmt: skip
    posts = [kv for kv in live if kv[1].post_type != STORY]
    recent = posts[:RECENT_POSTS]
    likes = [p.likes for _, p in recent]
    comments = [p.comments for _, p in recent]
    views = [p.views for _, p in recent if p.views is not None]
    plays = [p.plays for _, p in recent if p.plays is not None]
    avg_likes, avg_comments = _mean(likes), _mean(comments)
    row["avg_likes"] = avg_likes
    row["avg_comments"] = avg_comments
    row["avg_views"] = _mean(views)
    row["avg_plays"] = _mean(plays)
    row["engagement_rate"] = (
        (avg_likes + avg_comments) / followers * 100
        if avg_likes is not None and avg_comments is not None and followers > 0
        else None
    )
    row["comments_rate"] = avg_comments / followers * 100 if avg_comments is not None and followers > 0 else None
    row["likes_to_comment_ratio"] = avg_likes / avg_comments if avg_likes is not None and avg_comments else None
    if posts:
        newest = posts[0][1].published_at
        in_window = sum(1 for _, p in posts if p.published_at > newest - RATE_WINDOW_MS)
        row["avg_posts_per_week"] = in_window * 7 / 30
    else:
        row["avg_posts_per_week"] = None
    # avg_likes is None exactly when there are no likes
    row["likes_spread"] = (
        math.sqrt(sum((x - avg_likes) ** 2 for x in likes) / len(likes)) if avg_likes is not None else None
    )
    for name, types in _BY_CLASS:
        of_class = [p for _, p in live if p.post_type in types][:RECENT_POSTS]
        row[f"{name}_reach"] = _mean([p.reach for p in of_class if p.reach is not None])
        if name != "story":
            row[f"{name}_impressions"] = _mean([p.impressions for p in of_class if p.impressions is not None])
    row["posts_counted"] = len(recent)
    row["follower_group"] = follower_group(followers)
    cdc: CdcAttributes | dict[str, Any] = state.cdc or {}
    row["category"] = cdc.get("category") or attrs.get("category")
    row["language"] = cdc.get("language") or attrs.get("language")
    row["deleted"] = bool(cdc.get("deleted"))
    row["handle"] = cdc.get("handle") or attrs.get("handle")
    row["following"] = attrs.get("following")
    row["post_count"] = attrs.get("posts_count")
    for key in ("full_name", "is_verified", "is_business", "profile_type", "country"):
        row[key] = attrs.get(key)
    return row


PV_BITS = 24  # a post's own version stays below 2**24 (16.7M accepted changes of one post)


def post_rows(profile_id: str, state: ProfileState, post_ids: set[str] | None) -> list[dict[str, Any]]:
    """``metrics.post.rolling`` rows for ``post_ids`` (all posts when None); engagement rate against the
    profile's latest followers. A deleted post's row, and every post row of a deleted profile, says deleted.

    A row depends on the profile's accepted snapshots (followers) and the post's own version only, so its
    version is (snapshots accepted, post version) in one integer: equal versions mean equal rows whatever
    order the topics interleaved in (a restart re-processes them in another), and the final row has the
    highest version. (The profile's change counter would not do: a post row is not re-sent on every change.)
    The profile's deletes and undeletes count with its snapshots: a delete raises every post row's version."""
    hist = state.history
    followers = hist[-1].followers if hist else None
    profile_deleted = bool(state.cdc and state.cdc["deleted"])
    high = (state.snapshots_applied + state.deletions) << PV_BITS
    out = []
    for post_id in sorted(state.posts if post_ids is None else post_ids):
        c = state.posts[post_id]
        pv, published_at, likes, comments, views, plays, post_type, platform = c[:8]
        is_deleted = profile_deleted or post_id in state.deleted_posts
        engagement = likes + comments
        out.append({
            "post_id": post_id, "version": high + pv, "profile_id": profile_id,
            "platform": platform,
            "post_type": post_type, "published_at": published_at, "likes": likes, "comments": comments,
            "views": views, "plays": plays, "engagement": engagement,
            "engagement_rate": engagement / followers * 100 if followers else None,
            "post_class": "story" if post_type == STORY else "video" if post_type in VIDEO_TYPES else "image",
            "deleted": is_deleted, "reach": c.reach, "impressions": c.impressions, "saves": c.saves,
        })  # fmt: skip
    return out
