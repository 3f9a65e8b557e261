"""Collection aggregates, a two-hop join done with two keyed agents (pure functions, no I/O).

- ``collections`` (key collection_id) reads the ``collection_items`` CDC (membership, newest LSN per post wins)
  and ``internal.post.by_collection`` (post metrics fanned out to the collections holding the post). It writes
  ``metrics.collection.rolling`` and tells the post side about membership changes on
  ``internal.membership.by_post``.
- ``memberships`` (key post_id) reads ``metrics.post.rolling`` (the latest metrics of the post) and
  ``internal.membership.by_post``; whenever either changes it sends the post's latest metrics to every
  collection the post is in, on ``internal.post.by_collection``.

Aggregates over a collection's current members that have metrics: ``posts``, totals of likes, comments, views
(views of posts without views count 0), averages of likes and comments per post, the average of the non-null
views and of the non-null engagement rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.transforms.cdc import apply_deletes, past_ms
from streams.transforms.state import Entry, at


class Membership(Entry):
    """A post in a collection (or a collection of a post), as of the newest CDC change (``lsn``)."""

    __slots__ = ()
    lsn: int = at(0)
    present: bool = at(1)


class MemberMetrics(Entry):
    """A member post's latest metrics, as the collection holds them."""

    __slots__ = ()
    version: int = at(0)
    likes: int = at(1)
    comments: int = at(2)
    views: int | None = at(3)
    engagement_rate: float | None = at(4)

    @property
    def deleted(self) -> bool:  # a sixth element since deletes flow through (older states have five)
        return len(self) > 5 and bool(self[5])


class PostMetricsSeen(Entry):
    """The latest ``metrics.post.rolling`` row of a post, as the membership side holds it."""

    __slots__ = ()
    version: int = at(0)
    likes: int = at(1)
    comments: int = at(2)
    views: int | None = at(3)
    engagement_rate: float | None = at(4)
    event_time: int = at(5)

    @property
    def deleted(self) -> bool:  # a seventh element since deletes flow through (older states have six)
        return len(self) > 6 and bool(self[6])


@dataclass(slots=True)
class CollectionState:
    version: int = 0
    latest_event_time: int = 0
    members: dict[str, Membership] = field(default_factory=dict)  # by post id
    posts: dict[str, MemberMetrics] = field(default_factory=dict)  # by post id
    deleted: bool = False  # the collection's row was deleted in the OLTP database
    cdc_lsn: int = 0  # the newest cdc.public.collections change applied

    def copy(self) -> CollectionState:
        return CollectionState(self.version, self.latest_event_time, dict(self.members), dict(self.posts),
                               self.deleted, self.cdc_lsn)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        out = {"v": self.version, "t": self.latest_event_time, "members": self.members, "posts": self.posts}
        if self.cdc_lsn:  # written once the collection's own CDC was seen (older states have neither key)
            out |= {"del": self.deleted, "clsn": self.cdc_lsn}
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CollectionState:
        return cls(d["v"], d["t"], {k: Membership(v) for k, v in d["members"].items()},
                   {k: MemberMetrics(v) for k, v in d["posts"].items()}, d.get("del", False),
                   d.get("clsn", 0))  # fmt: skip


@dataclass(slots=True)
class MembershipState:
    version: int = 0
    collections: dict[str, Membership] = field(default_factory=dict)  # by collection id
    metrics: PostMetricsSeen | None = None

    def copy(self) -> MembershipState:
        return MembershipState(self.version, dict(self.collections), self.metrics)

    def to_json(self) -> dict[str, Any]:
        return {"v": self.version, "collections": self.collections, "m": self.metrics}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MembershipState:
        m = d["m"]
        return cls(d["v"], {k: Membership(v) for k, v in d["collections"].items()},
                   None if m is None else PostMetricsSeen(m))  # fmt: skip


@dataclass
class Outcome:
    changed: bool = False
    duplicates: int = 0
    membership: list[tuple[str, bool, int, int | None]] = field(default_factory=list)  # (post, present, lsn, added)
    fan_out: list[str] = field(default_factory=list)  # collections to send the post's metrics to


def apply_items_cdc(state: CollectionState, rows: list[dict[str, Any]], out: Outcome) -> None:
    for row in rows:
        image = row.get("after") or row.get("before") or {}
        post_id, lsn = str(image["post_id"]), int(row["source"]["lsn"])
        cur = state.members.get(post_id)
        if cur is not None and lsn <= cur.lsn:
            out.duplicates += 1
            continue
        present = row.get("op") != "d"
        state.members[post_id] = Membership((lsn, present))
        state.latest_event_time = max(state.latest_event_time, int(row["source"].get("ts_ms") or 0))
        state.version += 1
        out.changed = True
        out.membership.append((post_id, present, lsn, past_ms(image.get("added_at"), row) if present else None))


def apply_collections_cdc(state: CollectionState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """``cdc.public.collections`` changes: a delete marks the collection deleted (``cdc.apply_deletes``)."""
    for row in apply_deletes(state, rows, out):
        state.latest_event_time = max(state.latest_event_time, int(row["source"]["ts_ms"]))
        state.version += 1
        out.changed = True


def apply_post_metrics(state: CollectionState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """Rows of ``internal.post.by_collection``: the newest version of each post's metrics wins."""
    for r in rows:
        cur = state.posts.get(r["post_id"])
        if cur is not None and r["pv"] <= cur.version:
            out.duplicates += 1
            continue
        fields = [r["pv"], r["likes"], r["comments"], r["views"], r["engagement_rate"]]
        state.posts[r["post_id"]] = MemberMetrics([*fields, True] if r.get("deleted") else fields)
        state.latest_event_time = max(state.latest_event_time, int(r["t"]))
        state.version += r["pv"] - (cur.version if cur is not None else 0)  # how far the post's version moved
        out.changed = True


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def collection_row(collection_id: str, state: CollectionState) -> dict[str, Any]:
    members = [p for p, m in state.members.items() if m.present]
    with_metrics = [state.posts[p] for p in sorted(members) if p in state.posts and not state.posts[p].deleted]
    n = len(with_metrics)
    likes = sum(m.likes for m in with_metrics)
    comments = sum(m.comments for m in with_metrics)
    return {
        "collection_id": collection_id, "version": state.version, "posts": n, "total_likes": likes,
        "total_comments": comments, "total_views": sum(m.views or 0 for m in with_metrics),
        "avg_likes": likes / n if n else None, "avg_comments": comments / n if n else None,
        "avg_views": _mean([m.views for m in with_metrics if m.views is not None]),
        "avg_engagement_rate": _mean([m.engagement_rate for m in with_metrics if m.engagement_rate is not None]),
        "deleted": state.deleted,
    }  # fmt: skip


def apply_membership(state: MembershipState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """Rows of ``internal.membership.by_post``: newest LSN per collection wins; a new membership gets the
    post's metrics."""
    for r in rows:
        cid = str(r["collection_id"])
        cur = state.collections.get(cid)
        if cur is not None and r["lsn"] <= cur.lsn:
            out.duplicates += 1
            continue
        state.collections[cid] = Membership((r["lsn"], bool(r["present"])))
        state.version += 1
        out.changed = True
        if r["present"] and state.metrics is not None and cid not in out.fan_out:
            out.fan_out.append(cid)


def apply_metrics(state: MembershipState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """Rows of ``metrics.post.rolling``: the newest version becomes the post's metrics, sent to every
    collection the post is in."""
    for r in rows:
        cur = state.metrics
        if cur is not None and r["version"] <= cur.version:
            out.duplicates += 1
            continue
        seen = [r["version"], r["likes"], r["comments"], r["views"], r["engagement_rate"], r["event_time"]]
        state.metrics = PostMetricsSeen([*seen, True] if r.get("deleted") else seen)
        state.version += 1
        out.changed = True
        for cid, membership in sorted(state.collections.items()):
            if membership.present and cid not in out.fan_out:
                out.fan_out.append(cid)


def fan_out_rows(post_id: str, state: MembershipState, collections: list[str]) -> list[dict[str, Any]]:
    m = state.metrics
    if m is None:  # no fan-out before the post's metrics are known
        return []
    return [{"collection_id": cid, "post_id": post_id, "pv": m.version, "likes": m.likes, "comments": m.comments,
             "views": m.views, "engagement_rate": m.engagement_rate, "t": m.event_time, "deleted": m.deleted}
            for cid in collections]  # fmt: skip
