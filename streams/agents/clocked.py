"""The base of the agents whose rows also change with the event-time clock (``hiring``, ``logins``): a batch
handler with an ``EventClock`` (``streams/transforms/event_clock.py``). Same contract as every handler (see
``streams/agents/common.py``); it also remembers the partition clocks and timers between messages.

After a run's facts are applied, the partition clocks move to the newest event times, the touched keys' rows
are built at the new clock, and every key whose timer came due gets its row again (its state did not change).
After a (re)start or a rebalance the runtime calls ``rebuild`` with the table's states first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.agents.common import BatchResult, GetState, latency_s
from streams.settings import StreamsSettings
from streams.transforms.event_clock import EventClock


class ClockedBatch:
    """A batch handler with an event clock; subclasses say how facts apply and what a key's row is."""

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
                res.latencies_s.append(latency_s(now_ms, built[2]))
            self.clock.schedule(key, state)

    def finish(self, res: BatchResult, changed: dict[str, Any], get_state: GetState, now_ms: int) -> None:
        for key, state in changed.items():
            self.clock.observe(key, state)
        res.states.update(changed)

        def current(key: str) -> Any:
            return changed[key] if key in changed else get_state(key)

        self.emit(res, sorted(changed), current, now_ms)
        self.emit(res, [k for k in self.clock.due() if k not in changed], current, now_ms)
