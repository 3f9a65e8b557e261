"""Batch functions of the agents whose rows also change with the event-time clock (hiring processes, account
security). Same contract as ``streams/batch.py``: no I/O; the caller sends ``out`` and persists ``states``.

After a run's facts are applied, the partition clocks move to the newest event times, the touched keys' rows
are built at the new clock, and every key whose timer came due gets its row again (its state did not change).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from schemas.models import AccountSecurity, AuthAttempt, HiringCompany, HiringPosition, HiringProcessStatus
from streams import transform_hiring as th
from streams import transform_security as tsec
from streams.batch import BatchResult, _cdc_row, _line
from streams.event_clock import EventClock
from streams.records import decode_lines, model_parser
from streams.settings import DAY_MS, StreamsSettings

GetState = Callable[[str], Any]
HIRING_FACT_TABLES = ("processes", "interviews", "outcomes")
HIRING_DIM_TABLES = ("job_positions", "companies")
DIM_MODELS: dict[str, type[BaseModel]] = {"dim.hiring.position": HiringPosition, "dim.hiring.company": HiringCompany}


class ClockedBatch:
    """A batch function with an event clock; subclasses say how facts apply and what a key's row is."""

    agent = ""
    topic = ""

    def __init__(self, settings: StreamsSettings) -> None:
        self.s = settings
        self.clock = EventClock(settings.partitions, self.next_change)

    # --- what a subclass provides ------------------------------------------------------------------
    def next_change(self, state: Any, now: int) -> int | None:
        raise NotImplementedError

    def row_line(self, key: str, state: Any, now: int) -> tuple[bytes, int, int] | None:
        """(output line, version, the row's event time) at clock ``now``; None: no row (yet)."""
        raise NotImplementedError

    def static_version(self, key: str, state: Any) -> int | None:
        """The row's version when the clock has not moved it (to tell which rows depend on the clock)."""
        raise NotImplementedError

    def __call__(
        self, name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int
    ) -> BatchResult:
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------------
    def rebuild(self, items: Iterable[tuple[str, Any]]) -> BatchResult:
        """After a (re)start or rebalance: clocks and timers from the table, and the rows that depend on the
        clock sent again (a crash may have lost them; re-sending the same versions is harmless)."""
        res = BatchResult()
        states = {k: s for k, s in items if s is not None}
        for key in self.clock.rebuild(states.items()):
            built = self.row_line(key, states[key], self.clock.clock(key))
            if built is not None and built[1] != self.static_version(key, states[key]):
                res.out[self.topic].append((key, built[0]))
        return res

    def emit(self, res: BatchResult, keys: Iterable[str], get_state: GetState, now_ms: int) -> None:
        for key in keys:
            state = get_state(key)
            if state is None:
                continue
            built = self.row_line(key, state, self.clock.clock(key))
            if built is not None:
                res.out[self.topic].append((key, built[0]))
                res.latencies_s.append(max(now_ms - built[2], 0) / 1000)
            self.clock.schedule(key, state)

    def finish(self, res: BatchResult, changed: dict[str, Any], get_state: GetState, now_ms: int) -> None:
        for key, state in changed.items():
            self.clock.observe(key, state)
        res.states.update(changed)

        def current(key: str) -> Any:
            return changed[key] if key in changed else get_state(key)

        self.emit(res, sorted(changed), current, now_ms)
        self.emit(res, [k for k in self.clock.due() if k not in changed], current, now_ms)


class HiringBatch(ClockedBatch):
    """``hiring`` agent (key: process id): processes, interviews and outcomes CDC → ``status.hiring.process``;
    job_positions and companies CDC (keyed by their own ids, no state) → the dimension topics."""

    agent = "hiring"
    topic = "status.hiring.process"

    @property
    def ghost_after_ms(self) -> int:
        return int(self.s.hiring_ghost_after_days * DAY_MS)

    def next_change(self, state: Any, now: int) -> int | None:
        return th.next_change(state, now, self.ghost_after_ms)

    def row_line(self, key: str, state: Any, now: int) -> tuple[bytes, int, int] | None:
        row = th.status_row(key, state, now, self.ghost_after_ms)
        if row is None:
            return None
        line = _line(HiringProcessStatus, self.topic, row, key, row["last_activity_at"], self.agent)
        return line, row["version"], min(row["last_activity_at"], now)

    def static_version(self, key: str, state: Any) -> int | None:
        row = th.status_row(key, state, 0, self.ghost_after_ms)
        return None if row is None else row["version"]

    def __call__(
        self, name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int
    ) -> BatchResult:
        res = BatchResult()
        rows, res.bad = decode_lines(value, _cdc_row)
        res.rows_in = len(rows) + len(res.bad)
        table = name.rsplit(".", 1)[-1]
        if table in HIRING_DIM_TABLES:
            for r in rows:
                topic, key, row = th.dimension_row(r)
                line = _line(DIM_MODELS[topic], topic, row, key, th.dimension_time(r), self.agent)
                res.out[topic].append((key, line))
            return res
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_key[th.process_key(r)].append(r)
        changed: dict[str, Any] = {}
        for key, facts in by_key.items():
            stored = get_state(key)
            state = th.copy_state(stored) if stored is not None else th.new_state()
            outcome = th.Outcome()
            th.apply_cdc(state, facts, outcome)
            res.duplicates += outcome.duplicates
            if outcome.changed:
                changed[key] = state
        self.finish(res, changed, get_state, now_ms)
        return res


class SecurityBatch(ClockedBatch):
    """``logins`` agent (key: user id): ``activity.auth.attempt`` → ``status.account.security``."""

    agent = "logins"
    topic = "status.account.security"

    @property
    def rules(self) -> tsec.Rules:
        return tsec.Rules(self.s.login_fail_threshold, int(self.s.login_fail_window_s * 1000),
                          int(self.s.login_quiet_s * 1000))  # fmt: skip

    def next_change(self, state: Any, now: int) -> int | None:
        return tsec.next_change(state, now, self.rules)

    def row_line(self, key: str, state: Any, now: int) -> tuple[bytes, int, int] | None:
        row = tsec.status_row(key, state, now, self.rules)
        t = max(state["t"], row["since"] or 0)
        return _line(AccountSecurity, self.topic, row, key, t, self.agent), row["version"], state["t"]

    def static_version(self, key: str, state: Any) -> int | None:
        return int(state["n"] << 1)

    def __call__(
        self, name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int
    ) -> BatchResult:
        res = BatchResult()
        attempts, res.bad = decode_lines(value, model_parser(AuthAttempt))
        res.rows_in = len(attempts) + len(res.bad)
        by_key: dict[str, list[AuthAttempt]] = defaultdict(list)
        for a in attempts:
            by_key[a.user_id].append(a)
        changed: dict[str, Any] = {}
        for key, items in by_key.items():
            stored = get_state(key)
            state = tsec.copy_state(stored) if stored is not None else tsec.new_state()
            outcome = tsec.Outcome()
            tsec.apply_attempts(state, items, self.s.allowed_lateness_ms, self.rules, outcome)
            res.duplicates += outcome.duplicates
            res.late_dropped += outcome.late_dropped
            if outcome.changed:
                changed[key] = state
        self.finish(res, changed, get_state, now_ms)
        return res
