"""``profiles`` agent (key: profile id): profile snapshots, the profiles CDC and the post agent's latest counters
→ each profile's rolling metrics, and the rolling metrics of its posts (engagement against its followers)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from schemas.models import PostMetrics, ProfileRollingMetrics, ProfileSnapshot
from schemas.topics import topic
from streams.agents.common import BatchResult, GetState, add_late, declared, latency_s
from streams.settings import StreamsSettings
from streams.transforms import profile as tprof
from streams.transforms.cdc import decode_cdc
from streams.transforms.profile import ProfileState
from streams.transforms.records import contract_line, decode_lines, model_parser, row_with

AGENT = "profiles"
SNAPSHOTS = topic("social.profile.snapshot").name
PROFILES_CDC = topic("cdc.public.profiles").name
BY_PROFILE = topic("internal.post.by_profile").name
PROFILE_METRICS = topic("metrics.profile.rolling").name
POST_METRICS = topic("metrics.post.rolling").name
declared(AGENT, reads=(SNAPSHOTS, PROFILES_CDC, BY_PROFILE), writes=(PROFILE_METRICS, POST_METRICS))

_counters_row = row_with("post_id", "profile_id", "pv", "published_at", "likes", "comments")


def handle(name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int) -> BatchResult:
    res = BatchResult()
    snaps_by: dict[str, list[ProfileSnapshot]] = defaultdict(list)
    cdc_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    posts_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if name == SNAPSHOTS:
        snaps, res.bad = decode_lines(value, model_parser(ProfileSnapshot))
        for s in snaps:
            snaps_by[s.profile_id].append(s)
        res.rows_in = len(snaps)
    elif name == BY_PROFILE:
        rows, res.bad = decode_lines(value, _counters_row)
        for r in rows:
            posts_by[str(r["profile_id"])].append(r)
        res.rows_in = len(rows)
    else:  # profiles CDC
        rows, res.bad = decode_cdc(value)
        for r in rows:
            image = r.get("after") or r.get("before") or {}
            cdc_by[str(image["id"])].append(r)
        res.rows_in = len(rows)
    res.rows_in += len(res.bad)
    for key in {**snaps_by, **cdc_by, **posts_by}:
        stored: ProfileState | None = get_state(key)
        state = stored.copy() if stored is not None else ProfileState()
        outcome = tprof.ProfileOutcome()
        tprof.apply_snapshots(
            state, snaps_by.get(key, []), settings.allowed_lateness_ms, outcome, settings.follower_history_resolution_ms
        )
        tprof.apply_cdc(state, cdc_by.get(key, []), outcome)
        tprof.apply_posts(state, posts_by.get(key, []), outcome)
        res.duplicates += outcome.duplicates
        add_late(res, outcome.late)
        if not outcome.changed:
            continue
        res.states[key] = state
        row = tprof.profile_row(key, state)
        as_of = 0
        if row is not None:
            as_of = row["as_of"]
            line = contract_line(ProfileRollingMetrics, PROFILE_METRICS, row, key, as_of, AGENT)
            res.out[PROFILE_METRICS].append((key, line))
            res.latencies_s.append(latency_s(now_ms, as_of))
        changed_posts = None if outcome.followers_changed else outcome.posts_changed
        for prow in tprof.post_rows(key, state, changed_posts):
            pid = prow["post_id"]
            t = max(as_of, state.posts[pid].published_at)
            res.out[POST_METRICS].append((pid, contract_line(PostMetrics, POST_METRICS, prow, pid, t, AGENT)))
    return res
