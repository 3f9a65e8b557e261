"""Account security: an account becomes ``suspicious`` after ``threshold`` failed logins within ``window_ms``
(event time), and becomes ``active`` again once a successful login is followed by ``quiet_ms`` without a
failure. A failure during the quiet period cancels it (a new success starts it again).

The status is a pure function of the account's attempts (deduplicated by ``event_id``, ordered by event time,
then event id) and of ``now``, the event-time clock of the account's partition (see ``streams/event_clock.py``):
only the last quiet period can end by the clock alone. Attempts older than the allowed lateness (relative to
the newest attempt of the account) are dropped as late; attempts that leave the lateness horizon are folded
into a base state, so the state stays small and the result is the same as running over the whole history.

The row's version is ``attempts applied << 1 | cleared by the clock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

State = dict[str, Any]


@dataclass(frozen=True)
class Rules:
    threshold: int = 5
    window_ms: int = 10 * 60_000
    quiet_ms: int = 30 * 60_000


@dataclass
class Outcome:
    changed: bool = False
    duplicates: int = 0
    late_dropped: int = 0


def _machine() -> dict[str, Any]:
    return {"status": "active", "since": None, "failed": 0, "flagged": 0, "window": [], "pending": None,
            "last_failure_at": None, "last_success_at": None}  # fmt: skip


def new_state(tenant_id: str = "") -> State:
    # attempts: [event time, success, event id], sorted; base: the machine after every folded attempt
    return {"tenant": tenant_id, "attempts": [], "base": _machine(), "n": 0, "t": 0, "cutoff": 0}


def copy_state(state: State) -> State:
    return {**state, "attempts": list(state["attempts"])}


def _clear_until(m: dict[str, Any], now: int, rules: Rules) -> None:
    if m["status"] == "suspicious" and m["pending"] is not None and m["pending"] + rules.quiet_ms <= now:
        m.update(status="active", since=m["pending"] + rules.quiet_ms, failed=0, window=[], pending=None)


def _step(m: dict[str, Any], t: int, success: bool, rules: Rules) -> None:
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
        m.update(status="suspicious", since=t, failed=len(m["window"]), flagged=m["flagged"] + 1)


def _run(state: State, rules: Rules) -> dict[str, Any]:
    m = {**state["base"], "window": list(state["base"]["window"])}
    for t, success, _ in state["attempts"]:
        _step(m, t, bool(success), rules)
    return m


def apply_attempts(state: State, attempts: list[Any], lateness_ms: int, rules: Rules, out: Outcome) -> None:
    """``attempts``: AuthAttempt models of one account, in arrival order."""
    seen = {a[2] for a in state["attempts"]}
    for a in attempts:
        if a.event_id in seen:
            out.duplicates += 1
            continue
        if a.event_time < state["t"] - lateness_ms:
            out.late_dropped += 1
            continue
        seen.add(a.event_id)
        state["attempts"].append([a.event_time, int(a.success), a.event_id])
        state["tenant"] = a.tenant_id
        state["n"] += 1
        state["t"] = max(state["t"], a.event_time)
        out.changed = True
    if not out.changed:
        return
    state["attempts"].sort(key=lambda x: (x[0], x[2]))
    # fold what can no longer be joined by an accepted attempt (anything older than newest - lateness)
    cutoff = state["t"] - lateness_ms
    keep = 0
    while keep < len(state["attempts"]) and state["attempts"][keep][0] < cutoff:
        keep += 1
    if keep:
        base = {**state["base"], "window": list(state["base"]["window"])}
        for t, success, _ in state["attempts"][:keep]:
            _step(base, t, bool(success), rules)
        state["base"] = base
        state["attempts"] = state["attempts"][keep:]


def status_row(user_id: str, state: State, now: int, rules: Rules) -> dict[str, Any]:
    m = _run(state, rules)
    before = m["status"]
    _clear_until(m, max(now, state["t"]), rules)
    cleared_by_clock = before == "suspicious" and m["status"] == "active"
    return {
        "user_id": user_id,
        "tenant_id": state["tenant"],
        "version": (state["n"] << 1) | int(cleared_by_clock),
        "status": m["status"],
        "since": m["since"],
        "failed_logins": m["failed"],
        "times_flagged": m["flagged"],
        "last_failure_at": m["last_failure_at"],
        "last_success_at": m["last_success_at"],
    }


def next_change(state: State, now: int, rules: Rules) -> int | None:
    m = _run(state, rules)
    if m["status"] == "suspicious" and m["pending"] is not None:
        at = int(m["pending"] + rules.quiet_ms)
        return at if at > now else None
    return None
