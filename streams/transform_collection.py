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

import copy
from dataclasses import dataclass, field
from typing import Any

CollectionState = dict[str, Any]
MembershipState = dict[str, Any]


@dataclass
class Outcome:
    changed: bool = False
    duplicates: int = 0
    membership: list[tuple[str, bool, int]] = field(default_factory=list)  # (post_id, present, lsn)
    fan_out: list[str] = field(default_factory=list)  # collections to send the post's metrics to


def new_collection() -> CollectionState:
    return {"v": 0, "t": 0, "members": {}, "posts": {}}


def new_membership() -> MembershipState:
    return {"v": 0, "collections": {}, "m": None}


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(state)


def apply_items_cdc(state: CollectionState, rows: list[dict[str, Any]], out: Outcome) -> None:
    for row in rows:
        image = row.get("after") or row.get("before") or {}
        post_id, lsn = str(image["post_id"]), int(row["source"]["lsn"])
        cur = state["members"].get(post_id)
        if cur is not None and lsn <= cur[0]:
            out.duplicates += 1
            continue
        present = row.get("op") != "d"
        state["members"][post_id] = [lsn, present]
        state["t"] = max(state["t"], int(row["source"].get("ts_ms") or 0))
        state["v"] += 1
        out.changed = True
        out.membership.append((post_id, present, lsn))


def apply_post_metrics(state: CollectionState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """Rows of ``internal.post.by_collection``: the newest version of each post's metrics wins."""
    for r in rows:
        cur = state["posts"].get(r["post_id"])
        if cur is not None and r["pv"] <= cur[0]:
            out.duplicates += 1
            continue
        state["posts"][r["post_id"]] = [r["pv"], r["likes"], r["comments"], r["views"], r["engagement_rate"]]
        state["t"] = max(state["t"], int(r["t"]))
        state["v"] += r["pv"] - (cur[0] if cur is not None else 0)  # how far the post's version moved
        out.changed = True


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def collection_row(collection_id: str, state: CollectionState) -> dict[str, Any]:
    members = [p for p, (_, present) in state["members"].items() if present]
    with_metrics = [state["posts"][p] for p in sorted(members) if p in state["posts"]]
    n = len(with_metrics)
    likes = sum(m[1] for m in with_metrics)
    comments = sum(m[2] for m in with_metrics)
    return {
        "collection_id": collection_id, "version": state["v"], "posts": n, "total_likes": likes,
        "total_comments": comments, "total_views": sum(m[3] or 0 for m in with_metrics),
        "avg_likes": likes / n if n else None, "avg_comments": comments / n if n else None,
        "avg_views": _mean([m[3] for m in with_metrics if m[3] is not None]),
        "avg_engagement_rate": _mean([m[4] for m in with_metrics if m[4] is not None]),
    }  # fmt: skip


def apply_membership(state: MembershipState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """Rows of ``internal.membership.by_post``: newest LSN per collection wins; a new membership gets the
    post's metrics."""
    for r in rows:
        cid = str(r["collection_id"])
        cur = state["collections"].get(cid)
        if cur is not None and r["lsn"] <= cur[0]:
            out.duplicates += 1
            continue
        state["collections"][cid] = [r["lsn"], bool(r["present"])]
        state["v"] += 1
        out.changed = True
        if r["present"] and state["m"] is not None and cid not in out.fan_out:
            out.fan_out.append(cid)


def apply_metrics(state: MembershipState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """Rows of ``metrics.post.rolling``: the newest version becomes the post's metrics, sent to every
    collection the post is in."""
    for r in rows:
        cur = state["m"]
        if cur is not None and r["version"] <= cur[0]:
            out.duplicates += 1
            continue
        state["m"] = [r["version"], r["likes"], r["comments"], r["views"], r["engagement_rate"], r["event_time"]]
        state["v"] += 1
        out.changed = True
        for cid, (_, present) in sorted(state["collections"].items()):
            if present and cid not in out.fan_out:
                out.fan_out.append(cid)


def fan_out_rows(post_id: str, state: MembershipState, collections: list[str]) -> list[dict[str, Any]]:
    m = state["m"]
    return [{"collection_id": cid, "post_id": post_id, "pv": m[0], "likes": m[1], "comments": m[2], "views": m[3],
             "engagement_rate": m[4], "t": m[5]} for cid in collections]  # fmt: skip
