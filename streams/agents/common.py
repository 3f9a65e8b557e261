"""What every agent's batch handler shares: the result it returns, and the check that the topics it dispatches
on and writes are the ones ``schemas/topics.py`` declares for it.

A handler is one Kafka message's worth of work, without I/O: ``handler(name, value, get_state, settings,
now_ms)`` decodes the rows of ``value`` (read from the declared topic ``name``), groups them by key, applies the
pure transforms (``streams/transforms/``) to a copy of each key's state once, and returns the output lines and
the new states. The runtime (``streams/runtime.py``) sends the lines, then writes the states. A handler never
changes a state ``get_state`` returned (faust serializes a table value only when its changelog record is sent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.topics import read_by, topic, written_by
from streams.settings import StreamsSettings
from streams.transforms.records import BadRecord

GetState = Callable[[str], Any]
DLQ = topic("dlq.streams").name
LATE = topic("dlq.late").name


@dataclass
class BatchResult:
    out: dict[str, list[tuple[str, bytes]]] = field(default_factory=lambda: defaultdict(list))  # topic: (key, line)
    states: dict[str, Any] = field(default_factory=dict)
    bad: list[BadRecord] = field(default_factory=list)
    late: list[BadRecord] = field(default_factory=list)  # events beyond the allowed lateness (to dlq.late)
    rows_in: int = 0
    duplicates: int = 0
    late_dropped: int = 0
    latencies_s: list[float] = field(default_factory=list)


class Handler(Protocol):
    def __call__(
        self, name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int
    ) -> BatchResult: ...


def declared(agent: str, *, reads: tuple[str, ...], writes: tuple[str, ...]) -> None:
    """Fail at import when an agent module's topics are not the ones declared for it (dead letters aside)."""
    for name in (*reads, *writes):
        topic(name)  # declared at all
    want_reads = {t.name for t in read_by(agent)}
    want_writes = {t.name for t in written_by(agent)} - {DLQ, LATE}
    if set(reads) != want_reads or set(writes) != want_writes:
        raise RuntimeError(f"agent {agent!r}: reads {sorted(reads)} / writes {sorted(writes)}, but schemas/topics.py "
                           f"declares reads {sorted(want_reads)} / writes {sorted(want_writes)}")  # fmt: skip


def add_late(res: BatchResult, late: list[tuple[Any, str]]) -> None:
    """The late events of an outcome as dead letters: each event's contract line (what the ingest API wrote)."""
    for event, reason in late:
        if event is not None:
            res.late.append(BadRecord(event.model_dump_json().encode(), reason))
    res.late_dropped += len(late)


def latency_s(now_ms: int, event_time: int) -> float:
    return max(now_ms - event_time, 0) / 1000
