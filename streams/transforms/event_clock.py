"""An event-time clock per partition, and the timers of the keys whose output changes when it moves.

Rules like "ghosted after 21 days without activity" or "cleared after a quiet period" must fire on event time
(a replay of the raw topics has to give the same answer), and they must fire for a key that receives nothing
new. The clock of a partition is the newest event time of any key's state on it (``latest_event_time``), so it is
derived from the table and recovered with it; the timers are rebuilt from the table after a start or a
rebalance (and the rows that already depend on the clock are sent again: same versions, harmless).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from schemas.kafka import partition_for

NextChange = Callable[[Any, int], int | None]


class Clocked(Protocol):
    latest_event_time: int


class EventClock:
    def __init__(self, partitions: int, next_change: NextChange) -> None:
        self.partitions = partitions
        self.next_change = next_change
        self.now: dict[int, int] = {}
        self._timers: dict[int, list[tuple[int, str]]] = {}
        self.ready = False

    def partition(self, key: str) -> int:
        return partition_for(key.encode(), self.partitions)

    def reset(self) -> None:
        """Forget everything (partitions were revoked or assigned); the next run rebuilds from the table."""
        self.now.clear()
        self._timers.clear()
        self.ready = False

    def rebuild(self, items: Iterable[tuple[str, Clocked | None]]) -> list[str]:
        """Clocks and timers from the table's (key, state) pairs; returns every key (their rows are sent again
        by the caller when they depend on the clock)."""
        self.reset()
        states = [(k, s) for k, s in items if s is not None]
        for key, state in states:
            p = self.partition(key)
            self.now[p] = max(self.now.get(p, 0), int(state.latest_event_time))
        for key, state in states:
            self.schedule(key, state)
        self.ready = True
        return [k for k, _ in states]

    def observe(self, key: str, state: Clocked) -> None:
        """A key's new state: its partition's clock moves up to the state's newest event time."""
        p = self.partition(key)
        self.now[p] = max(self.now.get(p, 0), int(state.latest_event_time))

    def clock(self, key: str) -> int:
        return self.now.get(self.partition(key), 0)

    def schedule(self, key: str, state: Any) -> None:
        p = self.partition(key)
        due = self.next_change(state, self.now.get(p, 0))
        if due is not None:
            heapq.heappush(self._timers.setdefault(p, []), (due, key))

    def due(self) -> list[str]:
        """Keys whose timer is at or before their partition's clock (popped; the caller re-schedules them)."""
        fired: list[str] = []
        for p, heap in self._timers.items():
            now = self.now.get(p, 0)
            while heap and heap[0][0] <= now:
                fired.append(heapq.heappop(heap)[1])
        return sorted(set(fired))
