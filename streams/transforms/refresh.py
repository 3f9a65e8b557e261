"""The refresh scope: which posts the ``refresh`` timer asks the scrapers to scrape again (pure, no I/O).

The reference's rule: Instagram posts of type reel, image or carousel that are items of a collection added in the
last two calendar months, whose short code is not numeric-only; stale (last snapshot or successful scrape over an
hour ago); not attempted (or requested) in the last 12 hours; not persistently failing (at least 2 distinct FAILED
requests and no COMPLETE one in 30 days); oldest publish time first, at most ``limit`` per round. The posts agent
keeps what this reads: the post's OLTP row (``cdc.public.posts``) and its collection items (from the collections
agent, ``internal.membership.by_post``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from streams.transforms.cdc import label, ms
from streams.transforms.post import (
    HOUR_MS,
    STALE_AFTER_MS,
    CollectedIn,
    PostOutcome,
    PostRow,
    PostState,
    last_scraped,
    scrape_counts,
)

FLOW = "refresh_post_by_shortcode"
TYPES = frozenset({"reel", "image", "carousel"})
SKIP_ATTEMPTED_MS = 12 * HOUR_MS


def apply_post_rows(state: PostState, rows: list[dict[str, Any]], out: PostOutcome) -> None:
    """``cdc.public.posts`` changes: the newest row image by LSN (a delete keeps the last image)."""
    for row in rows:
        after, lsn = row.get("after"), int(row["source"]["lsn"])
        if not after or (state.row is not None and lsn <= state.row.lsn):
            continue
        state.row = PostRow((lsn, label(after, "shortcode"), label(after, "platform"), label(after, "post_type"),
                             ms(after.get("published_at"))))  # fmt: skip
        out.changed_scope = True


def apply_collected(state: PostState, rows: list[dict[str, Any]], out: PostOutcome) -> None:
    """``internal.membership.by_post`` rows: the newest change (LSN) of each collection item of the post."""
    for r in rows:
        cid, lsn = str(r["collection_id"]), int(r["lsn"])
        cur = state.collected.get(cid)
        if cur is not None and lsn <= cur.lsn:
            out.duplicates += 1
            continue
        state.collected[cid] = CollectedIn((lsn, bool(r["present"]), r.get("added_at")))
        out.changed_scope = True


def months_before(now_ms: int, months: int) -> int:
    """``now_ms`` minus whole calendar months (UTC; the day clamped to the shorter month's last)."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    for day in range(now.day, 0, -1):
        try:
            return int(now.replace(year=year, month=month + 1, day=day).timestamp() * 1000)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has a day 28")


def in_scope(st: PostState, now_ms: int, since_ms: int, requested_at: int) -> bool:
    row = st.row
    if st.deleted or row is None or row.platform != "instagram" or row.post_type not in TYPES:
        return False
    if not row.shortcode or row.shortcode.isdigit() or row.published_at is None:
        return False
    if not any(c.present and c.added_at is not None and c.added_at >= since_ms for c in st.collected.values()):
        return False
    scraped = last_scraped(st)
    if scraped is not None and now_ms - scraped <= STALE_AFTER_MS:
        return False
    attempted = max(st.scrape_max_t or 0, requested_at)
    if attempted and now_ms - attempted < SKIP_ATTEMPTED_MS:
        return False
    failed, complete = scrape_counts(st)
    return not (failed >= 2 and complete == 0)


def candidates(
    states: Iterable[tuple[str, PostState]], now_ms: int, *, limit: int = 250, requested: dict[str, int] | None = None
) -> list[tuple[str, PostState]]:
    """The posts in scope at ``now_ms``, oldest publish time first, at most ``limit`` (memory: the ``limit`` kept,
    whatever the number of states streamed through)."""
    requested = requested or {}
    since = months_before(now_ms, 2)
    picked: list[tuple[int, str, PostState]] = []
    for post_id, st in states:
        if not in_scope(st, now_ms, since, requested.get(post_id, 0)):
            continue
        assert st.row is not None and st.row.published_at is not None  # in scope
        picked.append((st.row.published_at, post_id, st))
        if len(picked) > 2 * limit:  # keep the oldest ``limit`` so far
            picked = heapq.nsmallest(limit, picked, key=lambda p: (p[0], p[1]))
    picked.sort(key=lambda p: (p[0], p[1]))
    return [(post_id, st) for _, post_id, st in picked[:limit]]
