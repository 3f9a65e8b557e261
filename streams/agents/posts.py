"""``posts`` agent (key: post id): post snapshots, scrape status events, the scrape_requests CDC, the posts CDC
(deletes, and the row the refresh scope reads) and the post's collection items → each post's scrape status, and
its latest counters for the profile agent (keyed by profile id)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from schemas.models import PostSnapshot, ScrapePostStatus, ScrapeRequestStatus
from schemas.topics import topic
from streams.agents.common import BatchResult, GetState, add_late, declared, latency_s
from streams.settings import StreamsSettings
from streams.transforms import post as tpost
from streams.transforms import refresh as trefresh
from streams.transforms.cdc import decode_cdc, row_image
from streams.transforms.post import PostState
from streams.transforms.records import contract_line, decode_lines, model_parser, row_with

AGENT = "posts"
SNAPSHOTS = topic("social.post.snapshot").name
SCRAPE_STATUS = topic("social.scrape.status").name
SCRAPE_CDC = topic("cdc.public.scrape_requests").name
POSTS_CDC = topic("cdc.public.posts").name
COLLECTED = topic("internal.membership.by_post").name
BY_PROFILE = topic("internal.post.by_profile").name
POST_STATUS = topic("status.scrape.post").name
declared(AGENT, reads=(SNAPSHOTS, SCRAPE_STATUS, SCRAPE_CDC, POSTS_CDC, COLLECTED), writes=(BY_PROFILE, POST_STATUS))
_collected_row = row_with("post_id", "collection_id", "present", "lsn")  # and "added_at"


def handle(name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int) -> BatchResult:
    res = BatchResult()
    by_key: dict[str, tuple[list[PostSnapshot], list[tpost.ScrapeFact]]] = defaultdict(lambda: ([], []))
    posts_cdc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    collected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    from_events = name == SCRAPE_STATUS
    if name == SNAPSHOTS:
        snaps, res.bad = decode_lines(value, model_parser(PostSnapshot))
        for s in snaps:
            by_key[s.post_id][0].append(s)
        res.rows_in = len(snaps)
    elif name == SCRAPE_STATUS:
        evs, res.bad = decode_lines(value, model_parser(ScrapeRequestStatus))
        for e in evs:
            by_key[e.post_id][1].append(tpost.scrape_fact_from_event(e))
        res.rows_in = len(evs)
    elif name == POSTS_CDC:
        rows, res.bad = decode_cdc(value)
        for r in rows:
            key = str(row_image(r)["id"])
            posts_cdc[key].append(r)
            by_key.setdefault(key, ([], []))
        res.rows_in = len(rows)
    elif name == COLLECTED:
        items, res.bad = decode_lines(value, _collected_row)
        for r in items:
            collected[str(r["post_id"])].append(r)
            by_key.setdefault(str(r["post_id"]), ([], []))
        res.rows_in = len(items)
    else:  # scrape_requests CDC
        rows, res.bad = decode_cdc(value)
        for r in rows:
            fact = tpost.scrape_fact_from_cdc(r)
            if fact is not None:
                by_key[str(r["after"]["post_id"])][1].append(fact)
        res.rows_in = len(rows)
    res.rows_in += len(res.bad)
    lateness = settings.allowed_lateness_ms
    for key, (snaps_k, facts_k) in by_key.items():
        stored: PostState | None = get_state(key)
        state = stored.copy() if stored is not None else PostState()
        outcome = tpost.PostOutcome()
        tpost.apply_snapshots(state, snaps_k, lateness, outcome)
        tpost.apply_scrapes(state, facts_k, lateness, outcome, from_events=from_events)
        tpost.apply_post_cdc(state, posts_cdc.get(key, []), outcome)
        trefresh.apply_post_rows(state, posts_cdc.get(key, []), outcome)
        trefresh.apply_collected(state, collected.get(key, []), outcome)
        res.duplicates += outcome.duplicates
        add_late(res, outcome.late)
        if outcome.applied or outcome.status_clock_moved or outcome.changed_scope:
            res.states[key] = state  # a duplicate status event still moves the lateness clock
        if not outcome.applied:
            continue
        if outcome.changed_counters:
            counters = tpost.counters_row(key, state)
            if counters is not None:
                res.out[BY_PROFILE].append((counters["profile_id"], json.dumps(counters).encode()))
        status = tpost.status_row(key, state, now_ms)
        if status is not None:
            event_time = max(state.scrape_max_t or 0, state.max_t or 0)
            res.out[POST_STATUS].append((key, contract_line(ScrapePostStatus, POST_STATUS, status, key, event_time,
                                                            AGENT)))  # fmt: skip
            res.latencies_s.append(latency_s(now_ms, event_time))
    return res
