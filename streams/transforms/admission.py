"""The admission rule every keyed event stream shares: count an event once (by ``event_id``), and drop it
when it is older than the newest event of its key by more than the allowed lateness.

The state holds ``ids`` (event_id -> event_time, only within the lateness horizon: an older duplicate is
late anyway) and ``max_t`` (the newest event time admitted).
"""

from __future__ import annotations

from typing import Protocol


class Counts(Protocol):
    duplicates: int
    late_dropped: int


class Admitting(Protocol):
    ids: dict[str, int]
    max_t: int | None


def admit(state: Admitting, event_id: str, event_time: int, lateness_ms: int, out: Counts) -> bool:
    """True when the event is new and on time; then it is recorded and ``max_t`` advances."""
    ids = state.ids
    if event_id in ids:
        out.duplicates += 1
        return False
    max_t = state.max_t
    if max_t is not None and event_time < max_t - lateness_ms:
        out.late_dropped += 1
        return False
    ids[event_id] = event_time
    if max_t is None or event_time > max_t:
        state.max_t = event_time
    return True


def prune_ids(state: Admitting, lateness_ms: int) -> None:
    """Forget ids beyond the lateness horizon (their duplicates would be dropped as late)."""
    horizon = (state.max_t or 0) - lateness_ms
    state.ids = {k: t for k, t in state.ids.items() if t >= horizon}
