"""The admission rule every keyed event stream shares: count an event once (by ``event_id``), and drop it
when it is older than the newest event of its key by more than the allowed lateness.

The state holds ``ids`` (event_id -> event_time, only within the lateness horizon: an older duplicate is
late anyway) and ``max_t`` (the newest event time admitted). A late event is never lost silently: it is counted,
and handed back (``out.late``, with its reason) for the late dead-letter topic, from which it can be replayed
with a wider lateness.
"""

from __future__ import annotations

from typing import Any, Protocol

DAY_MS = 86_400_000


class Counts(Protocol):
    duplicates: int
    late_dropped: int
    late: list[tuple[Any, str]]


class Timed(Protocol):
    max_t: int | None


class Admitting(Timed, Protocol):
    ids: dict[str, int]


def late_reason(event_time: int, newest: int, lateness_ms: int) -> str:
    return (f"late: event_time {event_time} is {(newest - event_time) / DAY_MS:.1f} days before the newest event of "
            f"its key ({newest}); the allowed lateness is {lateness_ms / DAY_MS:g} days "
            "(STIR_STREAMS_ALLOWED_LATENESS_MS); replay it with a wider lateness to apply it")  # fmt: skip


def admit(state: Admitting, event_id: str, event_time: int, lateness_ms: int, out: Counts, item: Any = None) -> bool:
    """True when the event is new and on time; then it is recorded and ``max_t`` advances. A late event is
    handed back in ``out.late`` (``item``: what to dead-letter, the event itself by default)."""
    ids = state.ids
    if event_id in ids:
        out.duplicates += 1
        return False
    if not on_time(state, event_time, lateness_ms, out, item):
        return False
    ids[event_id] = event_time
    max_t = state.max_t
    if max_t is None or event_time > max_t:
        state.max_t = event_time
    return True


def on_time(state: Timed, event_time: int, lateness_ms: int, out: Counts, item: Any) -> bool:
    """True when the event is not older than its key's newest by more than the lateness (a state whose dedup is
    elsewhere: ``max_t`` is the caller's to advance); a late one is handed back in ``out.late``."""
    max_t = state.max_t
    if max_t is not None and event_time < max_t - lateness_ms:
        out.late_dropped += 1
        out.late.append((item, late_reason(event_time, max_t, lateness_ms)))
        return False
    return True


def prune_ids(state: Admitting, lateness_ms: int) -> None:
    """Forget ids beyond the lateness horizon (their duplicates would be dropped as late)."""
    horizon = (state.max_t or 0) - lateness_ms
    ids = state.ids
    if ids and min(ids.values()) < horizon:  # mostly nothing has expired: a scan in C, no new dict
        state.ids = {k: t for k, t in ids.items() if t >= horizon}
