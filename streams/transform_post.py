"""Per-post state: latest counters from post snapshots, scrape history from status events and CDC.

Pure functions over a JSON-able state dict (what the Faust table stores). Exactness rules:
- dedup on ``event_id`` (snapshots) and on (request, attempt, status) for scrape facts, which the scraper's
  status events and the scrape_requests CDC both report;
- event time decides: the latest snapshot is the one with the greatest (event_time, event_id);
- an event older than the newest seen for its post by more than the allowed lateness is dropped (counted);
- ``pv`` / ``sv`` count the distinct snapshot / scrape facts applied: versions that only grow and that are
  the same on a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.models import PostSnapshot, ScrapeRequestStatus
from streams.admission import admit, prune_ids

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SCRAPE_WINDOW_MS = 30 * DAY_MS
STALE_AFTER_MS = HOUR_MS

PostState = dict[str, Any]


@dataclass(frozen=True)
class ScrapeFact:
    """One status of one attempt of a scrape request, from either source."""

    t: int
    request_id: str
    attempt: int
    status: str
    flow: str

    @property
    def sem_key(self) -> str:
        return f"{self.request_id}:{self.attempt}:{self.status}"


@dataclass
class PostOutcome:
    changed_counters: bool = False
    changed_scrape: bool = False
    applied: int = 0
    late_dropped: int = 0
    duplicates: int = 0


def new_state() -> PostState:
    return {"pv": 0, "sv": 0, "max_t": None, "ids": {}, "snap": None, "smax": None, "emax": None, "scr": {},
            "last_ok": None, "last": None, "flow": None}  # fmt: skip


def copy_state(state: PostState) -> PostState:
    """A copy that the apply functions may change without touching ``state``: they replace ``snap`` and
    ``last`` and assign into ``ids`` and ``scr`` (faust serializes a table value only when its changelog
    record is sent, so a stored value must never change after it was written)."""
    return {**state, "ids": dict(state["ids"]), "scr": dict(state["scr"])}


def scrape_fact_from_event(ev: ScrapeRequestStatus) -> ScrapeFact:
    return ScrapeFact(ev.event_time, ev.request_id, ev.attempt, ev.status, ev.flow)


def _ts_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):  # epoch micros/millis from Debezium's adaptive modes
        return value // 1000 if value > 10**14 else value
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


def scrape_fact_from_cdc(row: dict[str, Any]) -> ScrapeFact | None:
    """A Debezium change of ``scrape_requests`` as a scrape fact (None for deletes)."""
    after = row.get("after")
    if not after:
        return None
    t = _ts_ms(after.get("updated_at")) or int(row["source"]["ts_ms"])
    return ScrapeFact(t, str(after["id"]), int(after.get("attempt") or 1), str(after["status"]), str(after["flow"]))


def apply_snapshots(state: PostState, events: list[PostSnapshot], lateness_ms: int, out: PostOutcome) -> None:
    for ev in events:
        if not admit(state, ev.event_id, ev.event_time, lateness_ms, out):
            continue
        state["pv"] += 1
        out.applied += 1
        snap = state["snap"]
        if snap is None or (ev.event_time, ev.event_id) > (snap[0], snap[1]):
            state["snap"] = [ev.event_time, ev.event_id, ev.profile_id, ev.platform, ev.post_type, ev.published_at,
                             ev.likes, ev.comments, ev.views, ev.plays]  # fmt: skip
            out.changed_counters = True
    prune_ids(state, lateness_ms)


def apply_scrapes(
    state: PostState, facts: list[ScrapeFact], lateness_ms: int, out: PostOutcome, *, from_events: bool
) -> None:
    """Scrape facts from the status events (``from_events``: subject to the lateness rule, measured against
    the newest status event of the post) or from the CDC (a commit log: never late). Either source may
    report a fact first; it counts once."""
    scr: dict[str, list[Any]] = state["scr"]
    for f in facts:
        if from_events:
            emax = state["emax"]
            if emax is not None and f.t < emax - lateness_ms:
                out.late_dropped += 1
                continue
            state["emax"] = f.t if emax is None else max(emax, f.t)
        if f.sem_key in scr:
            out.duplicates += 1
            continue
        smax = state["smax"]
        scr[f.sem_key] = [f.t, f.status]
        state["sv"] += 1
        out.applied += 1
        out.changed_scrape = True
        if smax is None or f.t > smax:
            state["smax"] = f.t
        if f.status == "COMPLETE" and (state["last_ok"] is None or f.t > state["last_ok"]):
            state["last_ok"] = f.t
        last = state["last"]
        if last is None or (f.t, f.sem_key) > (last[0], last[2]):
            state["last"] = [f.t, f.status, f.sem_key]
            state["flow"] = f.flow
    if state["smax"] is not None:
        # facts at or before (newest - 30 days) never count again; a re-delivered one changes no figure
        floor = state["smax"] - max(SCRAPE_WINDOW_MS, lateness_ms)
        state["scr"] = {k: v for k, v in scr.items() if v[0] > floor}


def scrape_counts(state: PostState) -> tuple[int, int]:
    """FAILED and COMPLETE facts in the 30 days up to the newest scrape fact."""
    smax = state["smax"]
    if smax is None:
        return 0, 0
    floor = smax - SCRAPE_WINDOW_MS
    failed = complete = 0
    for t, status in state["scr"].values():
        if t > floor:
            failed += status == "FAILED"
            complete += status == "COMPLETE"
    return failed, complete


def last_scraped(state: PostState) -> int | None:
    snap_t = state["snap"][0] if state["snap"] else None
    candidates = [t for t in (snap_t, state["last_ok"]) if t is not None]
    return max(candidates) if candidates else None


def status_row(post_id: str, state: PostState, now_ms: int) -> dict[str, Any] | None:
    """The ``status.scrape.post`` row (fields after the envelope), or None before any scrape fact."""
    if state["last"] is None:
        return None
    failed, complete = scrape_counts(state)
    scraped = last_scraped(state)
    return {
        "post_id": post_id,
        "version": state["pv"] + state["sv"],
        "last_status": state["last"][1],
        "last_attempt_at": state["smax"],
        "last_success_at": state["last_ok"],
        "failed_30d": failed,
        "complete_30d": complete,
        "persistently_failing": failed >= 2 and complete == 0,
        "stale": scraped is None or now_ms - scraped > STALE_AFTER_MS,
    }


def counters_row(post_id: str, state: PostState) -> dict[str, Any] | None:
    """The internal row the profile agent keeps per post (keyed by profile id), or None before a snapshot."""
    snap = state["snap"]
    if snap is None:
        return None
    t, _eid, profile_id, platform, post_type, published_at, likes, comments, views, plays = snap
    return {"post_id": post_id, "profile_id": profile_id, "pv": state["pv"], "t": t, "platform": platform,
            "post_type": post_type, "published_at": published_at, "likes": likes, "comments": comments,
            "views": views, "plays": plays}  # fmt: skip


def refresh_candidates(
    states: list[tuple[str, PostState]],
    now_ms: int,
    *,
    max_age_ms: int = 61 * DAY_MS,
    skip_attempted_ms: int = 12 * HOUR_MS,
    limit: int = 250,
    requested: dict[str, int] | None = None,
) -> list[tuple[str, PostState]]:
    """Stale posts published in the last ~2 months, not attempted (or requested) in the last 12 h and not
    persistently failing, oldest publish time first, at most ``limit``."""
    requested = requested or {}
    picked = []
    for post_id, st in states:
        snap = st["snap"]
        if snap is None or snap[5] < now_ms - max_age_ms:
            continue
        scraped = last_scraped(st)
        if scraped is not None and now_ms - scraped <= STALE_AFTER_MS:
            continue
        attempted = max(st["smax"] or 0, requested.get(post_id, 0))
        if attempted and now_ms - attempted < skip_attempted_ms:
            continue
        failed, complete = scrape_counts(st)
        if failed >= 2 and complete == 0:
            continue
        picked.append((post_id, st))
    picked.sort(key=lambda p: (p[1]["snap"][5], p[0]))
    return picked[:limit]
