"""Account security: an account becomes ``suspicious`` after ``threshold`` failed logins within ``window_ms``
(event time), and becomes ``active`` again once a successful login is followed by ``quiet_ms`` without a
failure. A failure during the quiet period cancels it (a new success starts it again).

The status is a pure function of the account's attempts (deduplicated by ``event_id``, ordered by event time,
then event id) and of ``now``, the event-time clock of the account's partition (see
``streams/transforms/event_clock.py``): only the last quiet period can end by the clock alone. Attempts older
than the allowed lateness (relative to the newest attempt of the account) are dropped as late; attempts that
leave the lateness horizon are folded into a base state, so the state stays small and the result is the same
as running over the whole history.

The row's version is ``attempts applied << 1 | cleared by the clock``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from streams.transforms.admission import late_reason
from streams.transforms.state import Entry, at


@dataclass(frozen=True)
class Rules:
    threshold: int = 5
    window_ms: int = 10 * 60_000
    quiet_ms: int = 30 * 60_000


class Attempt(Entry):
    """One login attempt; an account's attempts are sorted by (event_time, event_id)."""

    __slots__ = ()
    event_time: int = at(0)
    success: int = at(1)  # 1 or 0
    event_id: str = at(2)


class Machine(TypedDict):
    """The account's status after a run of attempts."""

    status: str
    since: int | None
    failed: int
    flagged: int
    window: list[int]  # failure times inside the window
    pending: int | None  # the success that started the quiet period
    last_failure_at: int | None
    last_success_at: int | None


def _machine() -> Machine:
    return {"status": "active", "since": None, "failed": 0, "flagged": 0, "window": [], "pending": None,
            "last_failure_at": None, "last_success_at": None}  # fmt: skip


@dataclass(slots=True)
class SecurityState:
    tenant: str = ""
    attempts: list[Attempt] = field(default_factory=list)  # within the lateness horizon, sorted
    base: Machine = field(default_factory=_machine)  # the machine after every folded attempt
    applied: int = 0  # attempts applied
    latest_event_time: int = 0  # the newest attempt (the partition clock follows it)
    cutoff: int = 0  # kept for the stored format (always 0)

    def copy(self) -> SecurityState:
        return SecurityState(self.tenant, list(self.attempts), self.base, self.applied, self.latest_event_time,
                             self.cutoff)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "attempts": self.attempts, "base": self.base, "n": self.applied,
                "t": self.latest_event_time, "cutoff": self.cutoff}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SecurityState:
        return cls(d["tenant"], [Attempt(a) for a in d["attempts"]], d["base"], d["n"], d["t"], d["cutoff"])


@dataclass
class Outcome:
    changed: bool = False
    duplicates: int = 0
    late_dropped: int = 0
    late: list[tuple[Any, str]] = field(default_factory=list)  # (the late attempt, why)


def _copy(m: Machine) -> Machine:
    return {**m, "window": list(m["window"])}


def _clear_until(m: Machine, now: int, rules: Rules) -> None:
    pending = m["pending"]
    if m["status"] == "suspicious" and pending is not None and pending + rules.quiet_ms <= now:
        m["status"] = "active"
        m["since"] = pending + rules.quiet_ms
        m["failed"] = 0
        m["window"] = []
        m["pending"] = None


def _step(m: Machine, t: int, success: bool, rules: Rules) -> None:
    _clear_until(m, t, rules)
    if success:
        m["last_success_at"] = t
        if m["status"] == "suspicious":
            m["pending"] = t
        return
    m["last_failure_at"] = t
    m["window"] = [x for x in m["window"] if x > t - rules.window_ms] + [t]
    if m["status"] == "suspicious":
        m["pending"] = None
    elif len(m["window"]) >= rules.threshold:
        m["status"] = "suspicious"
        m["since"] = t
        m["failed"] = len(m["window"])
        m["flagged"] = m["flagged"] + 1


def _run(state: SecurityState, rules: Rules) -> Machine:
    m = _copy(state.base)
    for a in state.attempts:
        _step(m, a.event_time, bool(a.success), rules)
    return m


def apply_attempts(state: SecurityState, attempts: list[Any], lateness_ms: int, rules: Rules, out: Outcome) -> None:
    """``attempts``: AuthAttempt models of one account, in arrival order."""
    seen = {a.event_id for a in state.attempts}
    for a in attempts:
        if a.event_id in seen:
            out.duplicates += 1
            continue
        if a.event_time < state.latest_event_time - lateness_ms:
            out.late_dropped += 1
            out.late.append((a, late_reason(a.event_time, state.latest_event_time, lateness_ms)))
            continue
        seen.add(a.event_id)
        state.attempts.append(Attempt((a.event_time, int(a.success), a.event_id)))
        state.tenant = a.tenant_id
        state.applied += 1
        state.latest_event_time = max(state.latest_event_time, a.event_time)
        out.changed = True
    if not out.changed:
        return
    state.attempts.sort(key=lambda x: (x.event_time, x.event_id))
    # fold what can no longer be joined by an accepted attempt (anything older than newest - lateness)
    cutoff = state.latest_event_time - lateness_ms
    keep = 0
    while keep < len(state.attempts) and state.attempts[keep].event_time < cutoff:
        keep += 1
    if keep:
        base = _copy(state.base)
        for a in state.attempts[:keep]:
            _step(base, a.event_time, bool(a.success), rules)
        state.base = base
        state.attempts = state.attempts[keep:]


def status_row(user_id: str, state: SecurityState, now: int, rules: Rules) -> dict[str, Any]:
    m = _run(state, rules)
    before = m["status"]
    _clear_until(m, max(now, state.latest_event_time), rules)
    cleared_by_clock = before == "suspicious" and m["status"] == "active"
    return {
        "user_id": user_id,
        "tenant_id": state.tenant,
        "version": (state.applied << 1) | int(cleared_by_clock),
        "status": m["status"],
        "since": m["since"],
        "failed_logins": m["failed"],
        "times_flagged": m["flagged"],
        "last_failure_at": m["last_failure_at"],
        "last_success_at": m["last_success_at"],
    }


def next_change(state: SecurityState, now: int, rules: Rules) -> int | None:
    m = _run(state, rules)
    if m["status"] == "suspicious" and m["pending"] is not None:
        at_ = int(m["pending"] + rules.quiet_ms)
        return at_ if at_ > now else None
    return None
