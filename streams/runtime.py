"""The plumbing every agent shares: run a handler over a run of messages, send its output lines (one message
per output topic and partition, acknowledged by the broker), dead-letter the rows it could not decode, and only
then write the new states (awaiting their changelog acknowledgements).

A crash anywhere re-processes the run: the states either do not hold its rows yet (same outputs again, same
versions) or hold them already (the rows are duplicates, nothing to send).
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import orjson

from schemas.kafka import partition_for
from schemas.topics import Topology
from streams import faust_fixes
from streams import metrics as m
from streams.agents.clocked import ClockedBatch
from streams.agents.common import DLQ, LATE, BatchResult, Handler
from streams.settings import StreamsSettings
from streams.store import DEFAULT_CACHE_KEYS, DiskStore
from streams.transforms.records import BadRecord
from streams.transforms.state import StateRecord

log = logging.getLogger("stir.streams")
Lines = dict[str, list[tuple[str, bytes]]]  # topic (declared name): (key, line)


class StateTable:
    """An agent's faust table (keys: entity ids as bytes) holding state records; the changelog carries each
    record's JSON form.

    On the disk store (``streams/store.py``) reads go through its cache of records and writes reach the file
    after their changelog acknowledgements. On faust's memory store, values recovered from the changelog arrive
    as JSON and become records when first read."""

    def __init__(self, table: Any, record: type[StateRecord], cache_keys: int = DEFAULT_CACHE_KEYS) -> None:
        self.table = table
        self.record = record
        self.disk: DiskStore | None = table.data if isinstance(table.data, DiskStore) else None
        if self.disk is not None:
            self.disk.decode = lambda raw: record.from_json(orjson.loads(raw))
            self.disk.cache_keys = cache_keys

    def get(self, key: str) -> Any:
        k = key.encode()
        if self.disk is not None:
            return self.disk.get(k)
        return self._record(k, self.table.get(k))

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every key and state of the active partitions; on the disk store streamed from the file (memory
        follows one row, not the table)."""
        if self.disk is not None:
            return ((k.decode(), v) for k, v in self.disk.records())
        return iter([(k.decode(), self._record(k, v)) for k, v in list(self.table.items())])

    def _record(self, k: bytes, value: Any) -> Any:
        if value is not None and type(value) is not self.record:
            value = self.record.from_json(value)
            self.table.data[k] = value  # the same state, as a record (no changelog record)
        return value

    def __len__(self) -> int:
        return len(self.table)

    async def write(self, states: dict[str, Any]) -> None:
        """Send the states' changelog records, wait for their acknowledgements, then store the states."""
        rows = [(k.encode(), s, orjson.dumps(s.to_json())) for k, s in states.items()]
        acked_meta = await faust_fixes.send_changelog_awaiting_acks(self.table, ((k, raw) for k, _, raw in rows))
        if self.disk is None:
            for k, s, _ in rows:
                self.table.data[k] = s
            return
        written, acked = [], dict[tuple[str, int], tuple[int, int, int]]()
        for (k, s, raw), meta in zip(rows, acked_meta, strict=True):
            tp = (meta.topic_partition.topic, meta.topic_partition.partition)
            low, high, n = acked.get(tp, (meta.offset, meta.offset, 0))
            acked[tp] = (min(low, meta.offset), max(high, meta.offset), n + 1)
            written.append((k, tp[1], s, raw))
        self.disk.write(written, acked)


class Runtime:
    def __init__(self, app: Any, settings: StreamsSettings, topology: Topology, outputs: dict[str, Any]) -> None:
        self.app = app
        self.s = settings
        self.topology = topology
        self.outputs = outputs  # declared name: faust topic

    def now_ms(self) -> int:
        return self.s.clock_ms if self.s.clock_ms is not None else time.time_ns() // 1_000_000

    def declared_name(self, deployed: str) -> str:
        """The declared (logical) name of a deployed topic: what the handlers dispatch on."""
        declared = self.topology.resolve(deployed)
        return declared.name if declared is not None else deployed

    async def handle_or_die(self, events: list[Any], agent: str, handler: Handler, table: StateTable) -> None:
        """Crash-only: faust acknowledges a run's messages even when its handler raised, so an error exits
        the process at once (exit code 70) before any offset moves past work that was not done; the
        supervisor restarts the worker, which re-reads from the last committed offsets."""
        try:
            await faust_fixes.wait_for_table_recovery(self.app)
            await self.handle(events, agent, handler, table)
        except faust_fixes.RestartRequired as e:
            log.warning("agent %s: %s; exiting for a restart (the run is read again)", agent, e)
            logging.shutdown()
            os._exit(70)
        except Exception:
            log.exception("agent %s failed; exiting so that no offset is committed past unfinished work", agent)
            logging.shutdown()
            os._exit(70)

    async def handle(self, events: list[Any], agent: str, handler: Handler, table: StateTable) -> None:
        """A run of messages, in slices of at most ``run_max_bytes`` of input (a slice holds at least one
        message): what a run holds decoded at once follows the bytes read, not the messages taken."""
        first = True
        for part in byte_slices(events, self.s.run_max_bytes):
            await self.handle_slice(part, agent, handler, table, rebuild=first)
            first = False

    async def handle_slice(self, events: list[Any], agent: str, handler: Handler, table: StateTable,
                           rebuild: bool = True) -> None:  # fmt: skip
        """Transform each message (later ones see the earlier ones' states), send all outputs and wait for
        their acknowledgement, then write the states. One broker round trip per slice."""
        overlay: dict[str, Any] = {}

        def get_state(key: str) -> Any:
            return overlay[key] if key in overlay else table.get(key)

        out: Lines = defaultdict(list)
        now = self.now_ms()
        if rebuild and isinstance(handler, ClockedBatch) and not handler.clock.ready:
            for topic, rows in handler.rebuild(table.items()).out.items():
                out[topic].extend(rows)
        for event in events:
            msg = event.message
            name = self.declared_name(msg.topic)
            res = run_isolated(handler, name, event.value, get_state, self.s, now, agent)
            m.EVENTS_IN.labels(agent, name).inc(res.rows_in)
            m.DUPLICATES.labels(agent).inc(res.duplicates)
            m.LATE.labels(agent).inc(res.late_dropped)
            if res.latencies_s:  # one per message, its stalest row: per row it was 6 % of the worker's time
                m.LATENCY.labels(agent).observe(max(res.latencies_s))
            await self.dead_letter(agent, res.bad, msg)
            await self.dead_letter(agent, res.late, msg, LATE)
            overlay.update(res.states)
            for topic, rows in res.out.items():
                out[topic].extend(rows)
        await self.send(agent, out)
        await table.write(overlay)

    async def dead_letter(self, agent: str, bad: list[BadRecord], msg: Any, to: str = DLQ) -> None:
        for b in bad:
            headers = [("dlq.reason", b.reason.encode()[:4000]), ("dlq.agent", agent.encode()),
                       ("dlq.topic", msg.topic.encode()), ("dlq.partition", str(msg.partition).encode()),
                       ("dlq.offset", str(msg.offset).encode())]  # fmt: skip
            await self.outputs[to].send(value=b.line, key=msg.key, headers=headers)
            if to == DLQ:
                m.DLQ.labels(agent).inc()

    async def send(self, agent: str, rows: Lines) -> None:
        """One message per output topic and partition; waits for the broker's acknowledgements."""
        futures = []
        for name, keyed in rows.items():
            by_part: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
            for key, line in keyed:
                by_part[partition_for(key.encode(), self.s.partitions)].append((key, line))
            for part, items in by_part.items():
                for chunk in chunks(items, self.s.max_rows_per_message, self.s.max_message_bytes):
                    value = b"\n".join(line for _, line in chunk)
                    fut = await self.outputs[name].send(key=chunk[0][0].encode(), value=value, partition=part)
                    futures.append(fut)
                    m.EVENTS_OUT.labels(agent, name).inc(len(chunk))
        for fut in futures:
            await fut


def run_isolated(handler: Handler, name: str, value: bytes | None, get_state: Any, settings: StreamsSettings,
                 now_ms: int, agent: str) -> BatchResult:  # fmt: skip
    """The handler's result for one message; no data can make it raise. When the message as a whole raises
    (a transform failed, or an output row broke its contract), each of its lines runs alone, in order (a line
    sees the states the lines before it made), and the lines that still raise come back as dead letters with
    the reason. Handlers are pure, so the failed whole-message run left nothing behind."""
    try:
        return handler(name, value, get_state, settings, now_ms)
    except Exception as e:  # data errors of any kind: the fallback below names them
        first = e
    lines = [line for line in (value or b"").split(b"\n") if line.strip()]
    merged = BatchResult()
    if len(lines) <= 1:
        merged.bad.append(BadRecord(value or b"", failure_reason(agent, first)))
        merged.rows_in = 1
        log.warning("agent %s: a row failed and went to the dead letters: %s", agent, failure_reason(agent, first))
        return merged

    def seen(key: str) -> Any:
        return merged.states[key] if key in merged.states else get_state(key)

    for line in lines:
        try:
            res = handler(name, line, seen, settings, now_ms)
        except Exception as e:
            merged.bad.append(BadRecord(line, failure_reason(agent, e)))
            merged.rows_in += 1
            log.warning("agent %s: a row failed and went to the dead letters: %s", agent, failure_reason(agent, e))
            continue
        for topic, rows in res.out.items():
            merged.out[topic].extend(rows)
        merged.states.update(res.states)
        merged.bad += res.bad
        merged.late += res.late
        merged.rows_in += res.rows_in
        merged.duplicates += res.duplicates
        merged.late_dropped += res.late_dropped
        merged.latencies_s += res.latencies_s
    return merged


def failure_reason(agent: str, e: BaseException) -> str:
    return f"agent {agent} could not process this row: {type(e).__name__}: {e}"[:4000]


def byte_slices(events: list[Any], max_bytes: int) -> list[list[Any]]:
    """``events`` in order, cut where a slice's values would pass ``max_bytes`` (never an empty slice)."""
    out: list[list[Any]] = [[]]
    size = 0
    for event in events:
        n = len(event.value or b"")
        if out[-1] and size + n > max_bytes:
            out.append([])
            size = 0
        out[-1].append(event)
        size += n
    return out


def chunks(items: list[tuple[str, bytes]], max_rows: int, max_bytes: int) -> list[list[tuple[str, bytes]]]:
    out: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for item in items:
        if out[-1] and (len(out[-1]) >= max_rows or size + len(item[1]) + 1 > max_bytes):
            out.append([])
            size = 0
        out[-1].append(item)
        size += len(item[1]) + 1
    return out
