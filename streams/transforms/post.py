"""Per-post state: latest counters from post snapshots, scrape history from status events and CDC.

Pure functions over a ``PostState`` (what the Faust table stores). Exactness rules:
- dedup on ``event_id`` (snapshots) and on (request, attempt, status) for scrape facts, which the scraper's
  status events and the scrape_requests CDC both report;
- event time decides: the latest snapshot is the one with the greatest (event_time, event_id);
- an event older than the newest seen for its post by more than the allowed lateness is dropped (counted);
- ``snapshots_applied`` / ``scrapes_applied`` count the distinct snapshot / scrape facts applied: versions that
  only grow and that are the same on a replay.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from schemas.models import PostSnapshot, ScrapeRequestStatus, ScrapeStatus
from streams.transforms.admission import admit, late_reason, prune_ids
from streams.transforms.cdc import apply_deletes, label, past_ms
from streams.transforms.state import Entry, added_at, at

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SCRAPE_WINDOW_MS = 30 * DAY_MS
STALE_AFTER_MS = HOUR_MS


class LatestSnapshot(Entry):
    __slots__ = ()
    event_time: int = at(0)
    event_id: str = at(1)
    profile_id: str = at(2)
    platform: str = at(3)
    post_type: str = at(4)
    published_at: int = at(5)
    likes: int = at(6)
    comments: int = at(7)
    views: int | None = at(8)
    plays: int | None = at(9)
    reach: int | None = added_at(10)
    impressions: int | None = added_at(11)
    saves: int | None = added_at(12)


class CountedScrape(Entry):
    """A scrape fact counted once (by its ``sem_key``)."""

    __slots__ = ()
    t: int = at(0)
    status: str = at(1)


class LastScrape(Entry):
    __slots__ = ()
    t: int = at(0)
    status: str = at(1)
    sem_key: str = at(2)


class PostRow(Entry):
    """What the refresh scope reads of the post's OLTP row (``cdc.public.posts``), as of change ``lsn``."""

    __slots__ = ()
    lsn: int = at(0)
    shortcode: str | None = at(1)
    platform: str | None = at(2)
    post_type: str | None = at(3)
    published_at: int | None = at(4)


class CollectedIn(Entry):
    """The post in one collection (``collection_items``), as of change ``lsn``."""

    __slots__ = ()
    lsn: int = at(0)
    present: bool = at(1)
    added_at: int | None = at(2)


@dataclass(slots=True)
class PostState:
    snapshots_applied: int = 0
    scrapes_applied: int = 0
    max_t: int | None = None  # the newest snapshot time admitted (see admission.py)
    ids: dict[str, int] = field(default_factory=dict)  # snapshot event ids within the lateness horizon
    snapshot: LatestSnapshot | None = None
    scrape_max_t: int | None = None  # the newest scrape fact, from either source
    status_max_t: int | None = None  # the newest status event (what the lateness rule measures against)
    scrapes: dict[str, CountedScrape] = field(default_factory=dict)  # by sem_key, inside the window
    last_success_at: int | None = None
    last_scrape: LastScrape | None = None
    flow: str | None = None  # the flow of the latest scrape fact
    deleted: bool = False  # the post's row was deleted in the OLTP database (newest cdc.public.posts change)
    cdc_lsn: int = 0  # the newest cdc.public.posts change applied
    cdc_applied: int = 0  # cdc.public.posts changes that changed ``deleted`` (part of the versions)
    row: PostRow | None = None  # the post's OLTP row as of its newest cdc.public.posts change (the refresh scope)
    collected: dict[str, CollectedIn] = field(default_factory=dict)  # by collection id (the refresh scope)

    def copy(self) -> PostState:
        """A copy the apply functions may change without touching this one: they replace ``snapshot`` and
        ``last_scrape`` and assign into ``ids`` and ``scrapes`` (faust serializes a table value only when its
        changelog record is sent, so a stored value must never change after it was written)."""
        return PostState(self.snapshots_applied, self.scrapes_applied, self.max_t, dict(self.ids), self.snapshot,
                         self.scrape_max_t, self.status_max_t, dict(self.scrapes), self.last_success_at,
                         self.last_scrape, self.flow, self.deleted, self.cdc_lsn, self.cdc_applied, self.row,
                         dict(self.collected))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pv": self.snapshots_applied, "sv": self.scrapes_applied, "max_t": self.max_t, "ids": self.ids,
            "snap": self.snapshot, "smax": self.scrape_max_t, "emax": self.status_max_t, "scr": self.scrapes,
            "last_ok": self.last_success_at, "last": self.last_scrape, "flow": self.flow,
        }  # fmt: skip
        if self.cdc_lsn:  # written once the post's own CDC was seen (older states have none of these keys)
            out |= {"del": self.deleted, "clsn": self.cdc_lsn, "cv": self.cdc_applied}
        if self.row is not None:  # the refresh scope's keys, once seen (older states have none)
            out["row"] = self.row
        if self.collected:
            out["in"] = self.collected
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PostState:
        snap, last = d["snap"], d["last"]
        return cls(d["pv"], d["sv"], d["max_t"], dict(d["ids"]), None if snap is None else LatestSnapshot(snap),
                   d["smax"], d["emax"], {k: CountedScrape(v) for k, v in d["scr"].items()}, d["last_ok"],
                   None if last is None else LastScrape(last), d["flow"], d.get("del", False), d.get("clsn", 0),
                   d.get("cv", 0), PostRow(d["row"]) if d.get("row") else None,
                   {k: CollectedIn(v) for k, v in d.get("in", {}).items()})  # fmt: skip


@dataclass(frozen=True)
class ScrapeFact:
    """One status of one attempt of a scrape request, from either source."""

    t: int
    request_id: str
    attempt: int
    status: str
    flow: str
    event: Any = field(default=None, compare=False)  # the status event it came from (for the late dead letters)

    @property
    def sem_key(self) -> str:
        return f"{self.request_id}:{self.attempt}:{self.status}"


@dataclass
class PostOutcome:
    changed_counters: bool = False
    changed_scrape: bool = False
    status_clock_moved: bool = False  # the newest status event time advanced (also by a duplicate): keep it
    applied: int = 0
    late_dropped: int = 0
    late: list[tuple[Any, str]] = field(default_factory=list)  # (the late event, why)
    duplicates: int = 0
    changed_scope: bool = False  # the post's OLTP row or its collections changed (kept, nothing to send)


def scrape_fact_from_event(ev: ScrapeRequestStatus) -> ScrapeFact:
    return ScrapeFact(ev.event_time, ev.request_id, ev.attempt, ev.status, ev.flow, ev)


SCRAPE_STATUSES: tuple[str, ...] = typing.get_args(ScrapeStatus)


def scrape_fact_from_cdc(row: dict[str, Any]) -> ScrapeFact | None:
    """A Debezium change of ``scrape_requests`` as a scrape fact (None for deletes)."""
    after = row.get("after")
    if not after:
        return None
    t = past_ms(after.get("updated_at"), row) or int(row["source"]["ts_ms"])
    status, attempt = after["status"], after.get("attempt") or 1
    if status not in SCRAPE_STATUSES:
        raise ValueError(f"scrape_requests.status {str(status)[:40]!r} is none of {', '.join(SCRAPE_STATUSES)}")
    if type(attempt) is not int or not 0 <= attempt < 2**31:
        raise ValueError(f"scrape_requests.attempt {str(attempt)[:40]!r} is not a count")
    return ScrapeFact(t, str(after["id"]), attempt, status, label(after, "flow") or "")


def apply_snapshots(state: PostState, events: list[PostSnapshot], lateness_ms: int, out: PostOutcome) -> None:
    for ev in events:
        if not admit(state, ev.event_id, ev.event_time, lateness_ms, out, ev):
            continue
        state.snapshots_applied += 1
        out.applied += 1
        snap = state.snapshot
        if snap is None or (ev.event_time, ev.event_id) > (snap.event_time, snap.event_id):
            state.snapshot = LatestSnapshot((ev.event_time, ev.event_id, ev.profile_id, ev.platform, ev.post_type,
                                             ev.published_at, ev.likes, ev.comments, ev.views, ev.plays,
                                             ev.reach, ev.impressions, ev.saves))  # fmt: skip
            out.changed_counters = True
    prune_ids(state, lateness_ms)


def apply_scrapes(
    state: PostState, facts: list[ScrapeFact], lateness_ms: int, out: PostOutcome, *, from_events: bool
) -> None:
    """Scrape facts from the status events (``from_events``: subject to the lateness rule, measured against
    the newest status event of the post) or from the CDC (a commit log: never late). Either source may
    report a fact first; it counts once."""
    scrapes = state.scrapes
    for f in facts:
        if from_events:
            status_max = state.status_max_t
            if status_max is not None and f.t < status_max - lateness_ms:
                out.late_dropped += 1
                out.late.append((f.event, late_reason(f.t, status_max, lateness_ms)))
                continue
            if status_max is None or f.t > status_max:
                state.status_max_t = f.t
                out.status_clock_moved = True
        if f.sem_key in scrapes:
            out.duplicates += 1
            continue
        scrape_max = state.scrape_max_t
        scrapes[f.sem_key] = CountedScrape((f.t, f.status))
        state.scrapes_applied += 1
        out.applied += 1
        out.changed_scrape = True
        if scrape_max is None or f.t > scrape_max:
            state.scrape_max_t = f.t
        if f.status == "COMPLETE" and (state.last_success_at is None or f.t > state.last_success_at):
            state.last_success_at = f.t
        last = state.last_scrape
        if last is None or (f.t, f.sem_key) > (last.t, last.sem_key):
            state.last_scrape = LastScrape((f.t, f.status, f.sem_key))
            state.flow = f.flow
    if state.scrape_max_t is not None:
        # facts at or before (newest - 30 days) never count again; a re-delivered one changes no figure
        floor = state.scrape_max_t - max(SCRAPE_WINDOW_MS, lateness_ms)
        state.scrapes = {k: v for k, v in scrapes.items() if v.t > floor}


def scrape_counts(state: PostState) -> tuple[int, int]:
    """Distinct requests with a FAILED fact, and COMPLETE facts, in the 30 days up to the newest scrape fact (two
    failed attempts of one request are one failed request)."""
    scrape_max = state.scrape_max_t
    if scrape_max is None:
        return 0, 0
    floor = scrape_max - SCRAPE_WINDOW_MS
    failed: set[str] = set()
    complete = 0
    for key, (t, status) in state.scrapes.items():
        if t > floor:
            if status == "FAILED":
                failed.add(key.rsplit(":", 2)[0])  # sem_key: <request id>:<attempt>:<status>
            complete += status == "COMPLETE"
    return len(failed), complete


def last_scraped(state: PostState) -> int | None:
    snap_t = state.snapshot.event_time if state.snapshot else None
    candidates = [t for t in (snap_t, state.last_success_at) if t is not None]
    return max(candidates) if candidates else None


def apply_post_cdc(state: PostState, rows: list[dict[str, Any]], out: PostOutcome) -> None:
    """``cdc.public.posts`` changes: a delete marks the post deleted, and its rows downstream say so
    (``cdc.apply_deletes``)."""
    flipped = len(apply_deletes(state, rows, out))
    state.cdc_applied += flipped
    out.applied += flipped
    out.changed_counters = out.changed_counters or flipped > 0


def counters_version(state: PostState) -> int:
    """The post's version as the profile agent orders its counters: snapshots and deletes/undeletes applied."""
    return state.snapshots_applied + state.cdc_applied


def status_row(post_id: str, state: PostState, now_ms: int) -> dict[str, Any] | None:
    """The ``status.scrape.post`` row (fields after the envelope), or None before any scrape fact."""
    if state.last_scrape is None:
        return None
    failed, complete = scrape_counts(state)
    scraped = last_scraped(state)
    return {
        "post_id": post_id,
        "version": state.snapshots_applied + state.scrapes_applied + state.cdc_applied,
        "last_status": state.last_scrape.status,
        "last_attempt_at": state.scrape_max_t,
        "last_success_at": state.last_success_at,
        "failed_30d": failed,
        "complete_30d": complete,
        "persistently_failing": failed >= 2 and complete == 0,
        "stale": scraped is None or now_ms - scraped > STALE_AFTER_MS,
        "deleted": state.deleted,
    }


def counters_row(post_id: str, state: PostState) -> dict[str, Any] | None:
    """The internal row the profile agent keeps per post (keyed by profile id), or None before a snapshot."""
    snap = state.snapshot
    if snap is None:
        return None
    return {"post_id": post_id, "profile_id": snap.profile_id, "pv": counters_version(state), "t": snap.event_time,
            "platform": snap.platform, "post_type": snap.post_type, "published_at": snap.published_at,
            "likes": snap.likes, "comments": snap.comments, "views": snap.views, "plays": snap.plays,
            "reach": snap.reach, "impressions": snap.impressions, "saves": snap.saves,
            "deleted": state.deleted}  # fmt: skip
