"""One Kafka message's worth of work for an agent, without I/O: decode the rows, group them by key,
apply the transforms to each key's state once, and build the output lines (one per touched key).

The agents in ``streams/app.py`` only read state from their tables, send what this returns, and write
the new states back.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from schemas.models import (
    CollectionMetrics,
    PostMetrics,
    PostSnapshot,
    ProfileRollingMetrics,
    ProfileSnapshot,
    ScrapePostStatus,
    ScrapeRequestStatus,
)
from streams import transform_collection as tcol
from streams import transform_post as tpost
from streams import transform_profile as tprof
from streams.records import BadRecord, decode_lines, dumps, envelope, model_parser
from streams.settings import StreamsSettings

INTERNAL_POSTS = "internal.post.by_profile"


@dataclass
class BatchResult:
    out: dict[str, list[tuple[str, bytes]]] = field(default_factory=lambda: defaultdict(list))
    states: dict[str, Any] = field(default_factory=dict)
    bad: list[BadRecord] = field(default_factory=list)
    rows_in: int = 0
    duplicates: int = 0
    late_dropped: int = 0
    latencies_s: list[float] = field(default_factory=list)


def _json_row(line: bytes) -> dict[str, Any]:
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("a row must be a JSON object")
    return obj


def _cdc_row(line: bytes) -> dict[str, Any]:
    row = _json_row(line)
    if "source" not in row or "op" not in row:
        raise ValueError("not a Debezium change event (no source/op)")
    return row


def _internal_post(line: bytes) -> dict[str, Any]:
    row = _json_row(line)
    for k in ("post_id", "profile_id", "pv", "published_at", "likes", "comments"):
        if k not in row:
            raise KeyError(k)
    return row


_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _line(model: type[BaseModel], topic: str, row: dict[str, Any], key: str, event_time: int, agent: str) -> bytes:
    """The contracted JSON line: envelope + row, fields in the contract's order (tests validate every
    output row against its model; here only the order is enforced, to keep the hot path cheap)."""
    fields = _FIELDS.get(model)
    if fields is None:
        fields = _FIELDS[model] = tuple(model.model_fields)
    full = {**envelope(topic, key, row["version"], event_time, f"streams.{agent}"), **row}
    return dumps({f: full[f] for f in fields})


def post_batch(
    name: str, value: bytes | None, get_state: Callable[[str], Any], settings: StreamsSettings, now_ms: int
) -> BatchResult:
    res = BatchResult()
    by_key: dict[str, tuple[list[PostSnapshot], list[tpost.ScrapeFact]]] = defaultdict(lambda: ([], []))
    from_events = name == "social.scrape.status"
    if name == "social.post.snapshot":
        snaps, res.bad = decode_lines(value, model_parser(PostSnapshot))
        for s in snaps:
            by_key[s.post_id][0].append(s)
        res.rows_in = len(snaps)
    elif name == "social.scrape.status":
        evs, res.bad = decode_lines(value, model_parser(ScrapeRequestStatus))
        for e in evs:
            by_key[e.post_id][1].append(tpost.scrape_fact_from_event(e))
        res.rows_in = len(evs)
    else:  # scrape_requests CDC
        rows, res.bad = decode_lines(value, _cdc_row)
        for r in rows:
            fact = tpost.scrape_fact_from_cdc(r)
            if fact is not None:
                by_key[str(r["after"]["post_id"])][1].append(fact)
        res.rows_in = len(rows)
    res.rows_in += len(res.bad)
    lateness = settings.allowed_lateness_ms
    for key, (snaps_k, facts_k) in by_key.items():
        # never change a stored state in place: faust serializes it only when its changelog record goes out
        stored = get_state(key)
        state = tpost.copy_state(stored) if stored is not None else tpost.new_state()
        outcome = tpost.PostOutcome()
        tpost.apply_snapshots(state, snaps_k, lateness, outcome)
        tpost.apply_scrapes(state, facts_k, lateness, outcome, from_events=from_events)
        res.duplicates += outcome.duplicates
        res.late_dropped += outcome.late_dropped
        if not outcome.applied:
            continue
        res.states[key] = state
        if outcome.changed_counters:
            counters = tpost.counters_row(key, state)
            if counters is not None:
                res.out[INTERNAL_POSTS].append((counters["profile_id"], json.dumps(counters).encode()))
        status = tpost.status_row(key, state, now_ms)
        if status is not None:
            event_time = max(state["smax"] or 0, state["max_t"] or 0)
            res.out["status.scrape.post"].append(
                (key, _line(ScrapePostStatus, "status.scrape.post", status, key, event_time, "posts"))
            )
            res.latencies_s.append(max(now_ms - event_time, 0) / 1000)
    return res


def profile_batch(
    name: str, value: bytes | None, get_state: Callable[[str], Any], settings: StreamsSettings, now_ms: int
) -> BatchResult:
    res = BatchResult()
    snaps_by: dict[str, list[ProfileSnapshot]] = defaultdict(list)
    cdc_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    posts_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if name == "social.profile.snapshot":
        snaps, res.bad = decode_lines(value, model_parser(ProfileSnapshot))
        for s in snaps:
            snaps_by[s.profile_id].append(s)
        res.rows_in = len(snaps)
    elif name == INTERNAL_POSTS:
        rows, res.bad = decode_lines(value, _internal_post)
        for r in rows:
            posts_by[str(r["profile_id"])].append(r)
        res.rows_in = len(rows)
    else:  # profiles CDC
        rows, res.bad = decode_lines(value, _cdc_row)
        for r in rows:
            image = r.get("after") or r.get("before") or {}
            cdc_by[str(image["id"])].append(r)
        res.rows_in = len(rows)
    res.rows_in += len(res.bad)
    for key in {**snaps_by, **cdc_by, **posts_by}:
        stored = get_state(key)
        state = tprof.copy_state(stored) if stored is not None else tprof.new_state()
        outcome = tprof.ProfileOutcome()
        tprof.apply_snapshots(state, snaps_by.get(key, []), settings.allowed_lateness_ms, outcome)
        tprof.apply_cdc(state, cdc_by.get(key, []), outcome)
        tprof.apply_posts(state, posts_by.get(key, []), outcome)
        res.duplicates += outcome.duplicates
        res.late_dropped += outcome.late_dropped
        if not outcome.changed:
            continue
        res.states[key] = state
        row = tprof.profile_row(key, state)
        as_of = 0
        if row is not None:
            as_of = row["as_of"]
            res.out["metrics.profile.rolling"].append(
                (key, _line(ProfileRollingMetrics, "metrics.profile.rolling", row, key, as_of, "profiles"))
            )
            res.latencies_s.append(max(now_ms - as_of, 0) / 1000)
        changed_posts = None if outcome.followers_changed else outcome.posts_changed
        for prow in tprof.post_rows(key, state, changed_posts):
            pid = prow["post_id"]
            t = max(as_of, state["posts"][pid][1])
            res.out["metrics.post.rolling"].append(
                (pid, _line(PostMetrics, "metrics.post.rolling", prow, pid, t, "profiles"))
            )
    return res


INTERNAL_MEMBERSHIP = "internal.membership.by_post"
INTERNAL_POST_BY_COLLECTION = "internal.post.by_collection"


def _row_with(*keys: str) -> Callable[[bytes], dict[str, Any]]:
    def parse(line: bytes) -> dict[str, Any]:
        row = _json_row(line)
        for k in keys:
            if k not in row:
                raise KeyError(k)
        return row

    return parse


def collection_batch(
    name: str, value: bytes | None, get_state: Callable[[str], Any], settings: StreamsSettings, now_ms: int
) -> BatchResult:
    res = BatchResult()
    cdc_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    posts_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if name == INTERNAL_POST_BY_COLLECTION:
        rows, res.bad = decode_lines(value, _row_with("collection_id", "post_id", "pv", "likes", "comments", "t"))
        for r in rows:
            posts_by[str(r["collection_id"])].append(r)
    else:  # collection_items CDC
        rows, res.bad = decode_lines(value, _cdc_row)
        for r in rows:
            image = r.get("after") or r.get("before") or {}
            cdc_by[str(image["collection_id"])].append(r)
    res.rows_in = len(rows) + len(res.bad)
    for key in {**cdc_by, **posts_by}:
        stored = get_state(key)
        state = tcol.copy_state(stored) if stored is not None else tcol.new_collection()
        outcome = tcol.Outcome()
        tcol.apply_items_cdc(state, cdc_by.get(key, []), outcome)
        tcol.apply_post_metrics(state, posts_by.get(key, []), outcome)
        res.duplicates += outcome.duplicates
        if not outcome.changed:
            continue
        res.states[key] = state
        row = tcol.collection_row(key, state)
        res.out["metrics.collection.rolling"].append(
            (key, _line(CollectionMetrics, "metrics.collection.rolling", row, key, state["t"], "collections"))
        )
        res.latencies_s.append(max(now_ms - state["t"], 0) / 1000)
        for post_id, present, lsn in outcome.membership:
            line = dumps({"post_id": post_id, "collection_id": key, "present": present, "lsn": lsn})
            res.out[INTERNAL_MEMBERSHIP].append((post_id, line))
    return res


def membership_batch(
    name: str, value: bytes | None, get_state: Callable[[str], Any], settings: StreamsSettings, now_ms: int
) -> BatchResult:
    res = BatchResult()
    member_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    metrics_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if name == INTERNAL_MEMBERSHIP:
        rows, res.bad = decode_lines(value, _row_with("post_id", "collection_id", "present", "lsn"))
        for r in rows:
            member_by[str(r["post_id"])].append(r)
    else:  # metrics.post.rolling
        rows, res.bad = decode_lines(value, _row_with("post_id", "version", "likes", "comments", "event_time"))
        for r in rows:
            metrics_by[str(r["post_id"])].append(r)
    res.rows_in = len(rows) + len(res.bad)
    for key in {**member_by, **metrics_by}:
        stored = get_state(key)
        state = tcol.copy_state(stored) if stored is not None else tcol.new_membership()
        outcome = tcol.Outcome()
        tcol.apply_membership(state, member_by.get(key, []), outcome)
        tcol.apply_metrics(state, metrics_by.get(key, []), outcome)
        res.duplicates += outcome.duplicates
        if not outcome.changed:
            continue
        res.states[key] = state
        for row in tcol.fan_out_rows(key, state, outcome.fan_out):
            res.out[INTERNAL_POST_BY_COLLECTION].append((row["collection_id"], dumps(row)))
    return res
