"""How far the warehouse is known to reflect the sources: a source position followed through the consumer groups.

A serving table can say "every OLTP transaction committed before WAL position L, and every event the ingest API
accepted before time T, is in me" only if each hop has been seen to pass it. ``Custody`` follows candidates
through the hops, each confirmed by committed consumer-group offsets (which every component commits only after
its outputs are acknowledged or written):

1. the source position ``D`` Debezium has committed (its records up to ``D`` are in Kafka), read *before* the end
   offsets of the pipeline's input topics: every record up to ``D``, and every event accepted until then, lies
   below those offsets;
2. each hop (the stream worker's group on its inputs, again on its internal topics as deep as the agents chain,
   the warehouse's group on the topics it reads) is passed when the group's committed offsets reach the targets;
   the next hop's targets are the end offsets of its topics read at that moment (everything the previous hop
   wrote for the candidate's records is below them);
3. when the last hop is passed, the candidate is confirmed: a warehouse query that starts after that moment sees
   all of it.

A new candidate starts whenever none is in the first hop, so under load the confirmed position trails the sources
by about the pipeline's latency. The position is a lower bound by construction: it is never ahead of the truth.
The commit time is Debezium's ``ts_usec`` of that position less ``COMMIT_TIME_MARGIN`` (commit timestamps are
taken just before a commit record is written, so they can be out of WAL order by a little); the WAL position is
exact.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from schemas.topics import AGENTS, TOPICS, Topology

log = logging.getLogger("stir.custody")

COMMIT_TIME_MARGIN = timedelta(milliseconds=100)


@dataclass(frozen=True)
class SourcePosition:
    lsn: int  # every transaction whose commit record lies before this WAL position has been sent
    commit_time: datetime


@dataclass(frozen=True)
class Position:
    """What the warehouse reflects, as of ``confirmed_at``."""

    source_lsn: int | None  # None: the CDC source's position was not readable when the candidate started
    source_commit_time: datetime | None
    accepted_before: datetime  # every event the ingest API accepted before this time
    confirmed_at: datetime


@dataclass(frozen=True)
class Hop:
    """One stage: passed when each reader group's committed offsets reach the targets on the topics it reads."""

    readers: tuple[tuple[str, tuple[str, ...]], ...]  # (consumer group, its topics)

    @classmethod
    def of(cls, group: str, topics: Sequence[str]) -> Hop:
        return cls(((group, tuple(topics)),))

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for _, topics in self.readers for t in topics))


@dataclass
class _Candidate:
    source: SourcePosition | None
    started: datetime
    hop: int
    targets: dict[tuple[str, int], int] = field(default_factory=dict)


def hops(topology: Topology, worker_group: str, warehouse: str | Sequence[tuple[str, Sequence[str]]]) -> list[Hop]:
    """The pipeline's hops from the declared topics: the worker on what enters it from outside, on the topics its
    agents write for each other once per level of chaining, then the warehouse on what it reads (``warehouse``:
    its one consumer group, or its (group, topics) readers: the Kafka engine reads each source with a group)."""
    agents = set(AGENTS)
    read = [t for t in TOPICS if set(t.readers) & agents]
    entering = [t for t in read if not set(t.writers) & agents]
    chained = [t for t in read if set(t.writers) & agents]
    out = [Hop.of(worker_group, topology.names(entering))]
    out += [Hop.of(worker_group, topology.names(chained))] * _depth(chained)
    if isinstance(warehouse, str):
        out.append(Hop.of(warehouse, topology.names([t for t in TOPICS if "warehouse" in t.readers])))
    else:
        out.append(Hop(tuple((g, tuple(ts)) for g, ts in warehouse)))
    return out


def _depth(chained: Sequence[Any]) -> int:
    """The longest chain of agent-to-agent topics (one written by an agent that reads another of them)."""
    reads = {t.name: set(t.readers) for t in chained}
    writes = {t.name: set(t.writers) for t in chained}

    def depth(name: str, seen: frozenset[str]) -> int:
        after = [n for n in reads if n not in seen and reads[name] & writes[n]]
        return 1 + max((depth(n, seen | {n}) for n in after), default=0)

    return max((depth(n, frozenset({n})) for n in reads), default=0)


class Custody:
    """Follows candidates through ``hops`` (call ``step`` from a loop, or ``start`` a thread of its own)."""

    def __init__(self, bootstrap: str, hops: Sequence[Hop], source: Callable[[], SourcePosition | None],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.bootstrap, self.hops, self.source, self.clock = bootstrap, list(hops), source, clock
        self._candidates: list[_Candidate] = []
        self._confirmed: Position | None = None
        self._lock = threading.Lock()
        self._consumers: dict[str, Any] = {}
        self._silent: set[str] = set()  # groups warned about: never committed where the data is

    def position(self) -> Position | None:
        with self._lock:
            return self._confirmed

    def start(self, stop: threading.Event, every_s: float = 0.25) -> threading.Thread:
        def run() -> None:
            warned = 0.0
            while not stop.wait(every_s):
                try:
                    self.step()
                except Exception as exc:  # a broker or Connect hiccup: the position waits, the loader goes on
                    if time.monotonic() - warned > 60:
                        warned = time.monotonic()
                        log.warning("the source position cannot advance for now: %s", exc)
            self.close()

        thread = threading.Thread(target=run, name="custody", daemon=True)
        thread.start()
        return thread

    def step(self) -> None:
        # one candidate per hop at most: a stalled hop holds one, not one per step
        if not any(c.hop == 0 for c in self._candidates) and len(self._candidates) < len(self.hops):
            source = self.source()  # before the end offsets: what it covers lies below them
            started = self.clock()
            self._candidates.append(_Candidate(source, started, 0, self._ends(self.hops[0].topics)))
        for c in list(self._candidates):
            while c.hop < len(self.hops) and self._passed(self.hops[c.hop], c.targets):
                c.hop += 1
                if c.hop < len(self.hops):
                    c.targets = self._ends(self.hops[c.hop].topics)
            if c.hop == len(self.hops):
                self._candidates.remove(c)
                self._confirm(c)

    def _confirm(self, c: _Candidate) -> None:
        pos = Position(c.source.lsn if c.source else None,
                       c.source.commit_time - COMMIT_TIME_MARGIN if c.source else None, c.started,
                       self.clock())  # fmt: skip
        with self._lock:
            if self._confirmed is None or c.started >= self._confirmed.accepted_before:
                self._confirmed = pos

    def _consumer(self, group: str) -> Any:
        if group not in self._consumers:
            self._consumers[group] = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                                               "enable.auto.commit": False})  # fmt: skip
        return self._consumers[group]

    def _partitions(self, consumer: Any, topics: Sequence[str]) -> list[TopicPartition]:
        md = consumer.list_topics(timeout=10)
        return [TopicPartition(t, p) for t in topics if t in md.topics for p in md.topics[t].partitions]

    def _ends(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        c = self._consumer(self.hops[0].readers[0][0])
        out = {}
        for tp in self._partitions(c, topics):
            low, high = c.get_watermark_offsets(tp, timeout=10, cached=False)
            if high > low:
                out[(tp.topic, tp.partition)] = high
        return out

    def _passed(self, hop: Hop, targets: dict[tuple[str, int], int]) -> bool:
        for group, topics in hop.readers:
            mine = [TopicPartition(t, p) for t, p in targets if t in topics]
            if not mine:
                continue
            committed = self._consumer(group).committed(mine, timeout=10)
            if any(tp.offset < 0 for tp in committed) and group not in self._silent:
                self._silent.add(group)
                log.warning("consumer group %s has never committed on %s: the source position waits for it (does "
                            "the loader's environment match the reader's, e.g. STIR_TOPIC_PREFIX?)", group,
                            sorted({tp.topic for tp in committed if tp.offset < 0}))  # fmt: skip
            if not all(tp.offset >= targets[(tp.topic, tp.partition)] for tp in committed):
                return False
        return True

    def close(self) -> None:
        for c in self._consumers.values():
            c.close()
        self._consumers.clear()
