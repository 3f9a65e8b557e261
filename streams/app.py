"""The Faust app: thin agents over the pure ``transform_*`` functions.

Each Kafka message carries JSON lines of one partition. An agent decodes a message's rows, groups them by
key, applies the transform to each key's state once, sends one multi-row message per output topic and
partition, waits for the broker's acknowledgement, and only then writes the new states to its table
(changelog-backed). A crash anywhere re-processes the message: the states either do not hold its rows
yet (same outputs again, same versions) or hold them already (the rows are duplicates, nothing to send).

Agents:
- ``posts`` (key post_id) reads post snapshots, scrape status events and scrape_requests CDC; writes
  ``status.scrape.post`` and ``internal.post.by_profile`` (the latest counters, keyed by profile id);
- ``profiles`` (key profile_id) reads profile snapshots, profiles CDC and ``internal.post.by_profile``;
  writes ``metrics.profile.rolling`` and ``metrics.post.rolling``;
- ``collections`` (key collection_id) reads collection_items CDC and ``internal.post.by_collection``; writes
  ``metrics.collection.rolling`` and ``internal.membership.by_post``;
- ``memberships`` (key post_id) reads ``metrics.post.rolling`` and ``internal.membership.by_post``; writes
  ``internal.post.by_collection`` (see ``streams/transform_collection.py``);
- ``hiring`` (key process_id) reads processes, interviews and outcomes CDC (and job_positions, companies CDC
  as dimension rows); writes ``status.hiring.process``, ``dim.hiring.position``, ``dim.hiring.company``;
- ``logins`` (key user_id) reads ``activity.auth.attempt``; writes ``status.account.security``;
  both fire rules on an event-time clock (``streams/event_clock.py``, ``streams/batch_clocked.py``);
- a timer emits refresh requests for stale posts on ``social.scrape.request``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import start_http_server

from schemas.kafka import ensure_topics, partition_for
from schemas.models import RefreshRequest
from schemas.topics import AGENTS, TOPICS, Topology, read_by
from streams import batch
from streams import metrics as m
from streams import transform_post as tpost
from streams.batch_clocked import ClockedBatch, HiringBatch, SecurityBatch
from streams.faust_fixes import (
    drop_batches_fetched_before_a_seek,
    refuse_offset_gaps,
    tolerate_unpositioned_partitions,
    wait_for_dead_members,
)
from streams.records import BadRecord
from streams.settings import StreamsSettings

log = logging.getLogger("stir.streams")
REFRESH_NS = uuid.UUID("0d6e9f0a-2b1c-4c7e-8a55-6f2f3b9c1d42")


class Pipeline:
    """Builds the Faust app from settings; holds the handlers the agents call."""

    def __init__(self, settings: StreamsSettings, bootstrap: str) -> None:
        self.s = settings
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{bootstrap}",
            store="memory://",
            topic_partitions=settings.partitions,
            value_serializer="raw",
            key_serializer="raw",
            web_port=settings.web_port,
            web_bind="127.0.0.1",
            datadir=str(settings.data_dir / settings.app_id),
            broker_commit_interval=settings.commit_interval_s,
            broker_session_timeout=settings.session_timeout_s,
            broker_heartbeat_interval=max(settings.session_timeout_s / 4, 1.0),
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger_ms=5,
            table_cleanup_interval=3600.0,
        )
        raw: dict[str, Any] = {"value_serializer": "raw", "key_serializer": "raw", "partitions": settings.partitions}
        self.topology = topo = Topology(settings)

        def inputs_of(agent: str) -> Any:
            return self.app.topic(*topo.names(read_by(agent)), **raw)

        self.post_in = inputs_of("posts")
        self.profile_in = inputs_of("profiles")
        self.collection_in = inputs_of("collections")
        self.membership_in = inputs_of("memberships")
        self.hiring_in = inputs_of("hiring")
        self.logins_in = inputs_of("logins")
        self.outputs = {t.name: self.app.topic(topo.name(t), **raw) for t in TOPICS if set(t.writers) & set(AGENTS)}
        # bytes keys travel raw; values (JSON-able dicts) as JSON
        # keys are the entity ids (raw bytes), values JSON; the changelog partition of a key is the one Kafka's
        # default partitioner gives it, which is the partition of its input rows (topics are co-partitioned)
        opts: dict[str, Any] = {"default": None, "partitions": settings.partitions, "key_type": bytes,
                                "use_partitioner": True}  # fmt: skip
        self.post_table = self.app.Table("posts", **opts)
        self.profile_table = self.app.Table("profiles", **opts)
        self.collection_table = self.app.Table("collections", **opts)
        self.membership_table = self.app.Table("memberships", **opts)
        self.hiring_table = self.app.Table("hiring", **opts)
        self.logins_table = self.app.Table("logins", **opts)
        self.hiring = HiringBatch(settings)
        self.logins = SecurityBatch(settings)
        self.requested: dict[str, int] = {}
        self._register()

    # --- wiring ------------------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app

        agents: list[tuple[str, Any, Callable[..., batch.BatchResult], Any]] = [
            ("posts", self.post_in, batch.post_batch, self.post_table),
            ("profiles", self.profile_in, batch.profile_batch, self.profile_table),
            ("collections", self.collection_in, batch.collection_batch, self.collection_table),
            ("memberships", self.membership_in, batch.membership_batch, self.membership_table),
            ("hiring", self.hiring_in, self.hiring, self.hiring_table),
            ("logins", self.logins_in, self.logins, self.logins_table),
        ]
        for name, topic, fn, table in agents:
            self._agent(name, topic, fn, table)

        @app.timer(interval=self.s.refresh_interval_s)
        async def refresh() -> None:
            await self.emit_refresh_requests()

        @app.timer(interval=5.0)
        async def gauges() -> None:
            m.TABLE_KEYS.labels("posts").set(len(self.post_table))
            m.TABLE_KEYS.labels("profiles").set(len(self.profile_table))
            m.TABLE_KEYS.labels("collections").set(len(self.collection_table))
            m.TABLE_KEYS.labels("memberships").set(len(self.membership_table))
            m.TABLE_KEYS.labels("hiring").set(len(self.hiring_table))
            m.TABLE_KEYS.labels("logins").set(len(self.logins_table))
            consumer = self.app.consumer
            for tp in consumer.assignment():
                hw = consumer.highwater(tp)
                position = await consumer.position(tp)
                if hw is not None and position is not None:
                    m.LAG.labels(tp.topic, str(tp.partition)).set(max(hw - position, 0))

        async def forget_clocks(*_: Any, **__: Any) -> None:
            self.hiring.clock.reset()
            self.logins.clock.reset()

        app.on_partitions_revoked.connect(forget_clocks)
        app.on_partitions_assigned.connect(forget_clocks)

        @app.task
        async def metrics_server() -> None:
            if self.s.metrics_port:
                start_http_server(self.s.metrics_port, addr="127.0.0.1")

    def _agent(self, name: str, topic: Any, fn: Callable[..., batch.BatchResult], table: Any) -> None:
        """One agent: runs of messages from ``topic`` through ``fn``, states in ``table`` (concurrency 1)."""

        async def agent(stream: Any) -> None:
            async for events in stream.take_events(self.s.take_max_messages, within=self.s.take_within_s):
                await self.handle_or_die(events, name, fn, table)

        self.app.agent(topic, concurrency=1, name=name)(agent)

    def now_ms(self) -> int:
        return self.s.clock_ms if self.s.clock_ms is not None else time.time_ns() // 1_000_000

    def _name(self, topic: str) -> str:
        """The declared (logical) name of a deployed topic: what the handlers dispatch on."""
        declared = self.topology.resolve(topic)
        return declared.name if declared is not None else topic

    # --- shared plumbing ---------------------------------------------------------------------------
    async def _dead_letter(self, agent: str, bad: list[BadRecord], msg: Any) -> None:
        for b in bad:
            headers = [("dlq.reason", b.reason.encode()[:4000]), ("dlq.agent", agent.encode()),
                       ("dlq.topic", msg.topic.encode()), ("dlq.partition", str(msg.partition).encode()),
                       ("dlq.offset", str(msg.offset).encode())]  # fmt: skip
            await self.outputs["dlq.streams"].send(value=b.line, key=msg.key, headers=headers)
            m.DLQ.labels(agent).inc()

    async def _send(self, agent: str, rows: dict[str, list[tuple[str, bytes]]]) -> None:
        """One message per output topic and partition; waits for the broker's acknowledgements."""
        futures = []
        for name, keyed in rows.items():
            by_part: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
            for key, line in keyed:
                by_part[partition_for(key.encode(), self.s.partitions)].append((key, line))
            for part, items in by_part.items():
                for chunk in _chunks(items, self.s.max_rows_per_message, self.s.max_message_bytes):
                    value = b"\n".join(line for _, line in chunk)
                    fut = await self.outputs[name].send(key=chunk[0][0].encode(), value=value, partition=part)
                    futures.append(fut)
                    m.EVENTS_OUT.labels(agent, name).inc(len(chunk))
        for fut in futures:
            await fut

    # --- agents' message handlers: decode, transform (pure), send, then persist -------------------
    async def handle_or_die(
        self, events: list[Any], agent: str, fn: Callable[..., batch.BatchResult], table: Any
    ) -> None:
        """Crash-only: faust acknowledges a run's messages even when its handler raised, so an error exits
        the process at once (exit code 70) before any offset moves past work that was not done; the
        supervisor restarts the worker, which re-reads from the last committed offsets."""
        try:
            await self._tables_ready()
            await self.handle(events, agent, fn, table)
        except Exception:
            log.exception("agent %s failed; exiting so that no offset is committed past unfinished work", agent)
            logging.shutdown()
            os._exit(70)

    async def _tables_ready(self) -> None:
        """faust can hand an agent messages before its tables are recovered from the changelog (right after a
        start or a rebalance); a run processed then would see empty state and write it back. Wait until the
        recovery is complete; those messages are read again after it and are then duplicates."""
        recovery = self.app.tables.recovery  # type: ignore[attr-defined]
        while not recovery.completed.is_set() or self.app.in_recovery or self.app.rebalancing:
            await asyncio.sleep(0.02)

    async def handle(self, events: list[Any], agent: str, fn: Callable[..., batch.BatchResult], table: Any) -> None:
        """A run of messages: transform each (later ones see the earlier ones' states), send all outputs and
        wait for their acknowledgement, then write the states. One broker round trip per run."""
        overlay: dict[str, Any] = {}

        def get_state(key: str) -> Any:
            return overlay[key] if key in overlay else table.get(key.encode())

        out: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        now = self.now_ms()
        if isinstance(fn, ClockedBatch) and not fn.clock.ready:
            rebuilt = fn.rebuild((k.decode(), v) for k, v in table.items())
            for topic, rows in rebuilt.out.items():
                out[topic].extend(rows)
        for event in events:
            msg = event.message
            name = self._name(msg.topic)
            res = fn(name, event.value, get_state, self.s, now)
            m.EVENTS_IN.labels(agent, name).inc(res.rows_in)
            m.DUPLICATES.labels(agent).inc(res.duplicates)
            m.LATE.labels(agent).inc(res.late_dropped)
            for seconds in res.latencies_s:
                m.LATENCY.labels(agent).observe(seconds)
            await self._dead_letter(agent, res.bad, msg)
            overlay.update(res.states)
            for topic, rows in res.out.items():
                out[topic].extend(rows)
        await self._send(agent, out)
        await self._persist(table, overlay)

    @staticmethod
    async def _persist(table: Any, states: dict[str, Any]) -> None:
        """Write the new states and wait until the broker has acknowledged their changelog records.

        ``table[key] = state`` only queues the changelog record, and faust's pre-commit flush gives up after
        0.1 s of no progress, so an offset could be committed while the state it depends on was still in the
        producer's buffer; a SIGKILL then left the recovered state older than the committed offsets.
        """
        futures = []
        for key, state in states.items():
            k = key.encode()
            futures.append(table.send_changelog(table.partition_for_key(k), k, state))
            table.data[k] = state
        for fut in futures:
            await fut

    # --- refresh requests --------------------------------------------------------------------------
    async def emit_refresh_requests(self) -> None:
        now = self.now_ms()
        states = [(k.decode(), v) for k, v in self.post_table.items() if v is not None]
        picked = tpost.refresh_candidates(states, now, limit=self.s.refresh_max_per_interval, requested=self.requested)
        out: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        window = now // (12 * tpost.HOUR_MS)
        for post_id, st in picked:
            snap = st["snap"]
            req = {
                "event_id": str(uuid.uuid5(REFRESH_NS, f"{post_id}|{window}")),
                "event_time": now, "ingested_at": None, "source": "streams.refresh", "schema_version": 1,
                "request_id": f"refresh:{post_id}:{window}", "post_id": post_id,
                "flow": st["flow"] or f"{snap[3]}_post", "reason": "stale", "published_at": snap[5],
            }  # fmt: skip
            out["social.scrape.request"].append(
                (post_id, RefreshRequest.model_validate(req).model_dump_json().encode())
            )
            self.requested[post_id] = now
        if out:
            await self._send("refresh", out)
            m.REFRESH_REQUESTS.inc(len(picked))


def _chunks(items: list[tuple[str, bytes]], max_rows: int, max_bytes: int) -> list[list[tuple[str, bytes]]]:
    out: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for item in items:
        if out[-1] and (len(out[-1]) >= max_rows or size + len(item[1]) + 1 > max_bytes):
            out.append([])
            size = 0
        out[-1].append(item)
        size += len(item[1]) + 1
    return out


def inputs(settings: StreamsSettings) -> list[str]:
    """Every topic the agents read (their group's lag over these is the worker's backlog)."""
    return Topology(settings).inputs(AGENTS)


def topics(settings: StreamsSettings) -> list[str]:
    """Every topic the agents read or write (created up front with equal partition counts)."""
    return Topology(settings).touched(AGENTS)


def run_worker(settings: StreamsSettings, bootstrap: str) -> None:
    """Create the topics, then run one Faust worker in the foreground until SIGTERM/SIGINT."""
    drop_batches_fetched_before_a_seek()
    refuse_offset_gaps()
    tolerate_unpositioned_partitions()

    ensure_topics(bootstrap, topics(settings), settings.partitions)
    wait_for_dead_members(bootstrap, settings.app_id, settings.session_timeout_s * 1.5)
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(settings, bootstrap)
    worker = faust.Worker(pipeline.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
