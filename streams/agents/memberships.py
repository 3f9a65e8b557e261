"""``memberships`` agent (key: post id): the post's rolling metrics and its membership changes → the post's
latest metrics, sent to every collection it is in (see ``streams/transforms/collection.py``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from schemas.topics import topic
from streams.agents.common import BatchResult, GetState, declared
from streams.settings import StreamsSettings
from streams.transforms import collection as tcol
from streams.transforms.collection import MembershipState
from streams.transforms.records import decode_lines, dumps, row_with

AGENT = "memberships"
MEMBERSHIP_BY_POST = topic("internal.membership.by_post").name
POST_METRICS = topic("metrics.post.rolling").name
POST_BY_COLLECTION = topic("internal.post.by_collection").name
declared(AGENT, reads=(MEMBERSHIP_BY_POST, POST_METRICS), writes=(POST_BY_COLLECTION,))

_membership_row = row_with("post_id", "collection_id", "present", "lsn")
_metrics_row = row_with("post_id", "version", "likes", "comments", "event_time")  # and "deleted", when set


def handle(name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int) -> BatchResult:
    res = BatchResult()
    member_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    metrics_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if name == MEMBERSHIP_BY_POST:
        rows, res.bad = decode_lines(value, _membership_row)
        for r in rows:
            member_by[str(r["post_id"])].append(r)
    else:  # metrics.post.rolling
        rows, res.bad = decode_lines(value, _metrics_row)
        for r in rows:
            metrics_by[str(r["post_id"])].append(r)
    res.rows_in = len(rows) + len(res.bad)
    for key in {**member_by, **metrics_by}:
        stored: MembershipState | None = get_state(key)
        state = stored.copy() if stored is not None else MembershipState()
        outcome = tcol.Outcome()
        tcol.apply_membership(state, member_by.get(key, []), outcome)
        tcol.apply_metrics(state, metrics_by.get(key, []), outcome)
        res.duplicates += outcome.duplicates
        if not outcome.changed:
            continue
        res.states[key] = state
        for row in tcol.fan_out_rows(key, state, outcome.fan_out):
            res.out[POST_BY_COLLECTION].append((row["collection_id"], dumps(row)))
    return res
