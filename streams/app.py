"""The Faust app, wired from the declared topology: one agent and one changelog-backed table per entry of
``streams.agents.STREAM_AGENTS``, reading the topics ``schemas/topics.py`` declares for it; the refresh timer;
the metrics.

Following one agent means reading its module in ``streams/agents/`` (and the pure transforms it calls in
``streams/transforms/``); what every agent shares (send, persist, dead-letter) is ``streams/runtime.py``, and
the faust-streaming workarounds are ``streams/faust_fixes.py``.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import faust
from prometheus_client import start_http_server

from schemas.kafka import ensure_topics, topic_ids
from schemas.topics import AGENTS, TOPICS, Topology, read_by
from streams import faust_fixes, membership
from streams import metrics as m
from streams.agents import STREAM_AGENTS, posts
from streams.agents.clocked import ClockedBatch
from streams.agents.refresh import AGENT as REFRESH
from streams.agents.refresh import REQUESTS, RefreshRequests
from streams.runtime import Runtime, StateTable
from streams.settings import StreamsSettings
from streams.store import forget_foreign_checkpoints


class StreamsApp:
    """Builds the Faust app from settings: topics, tables and agents from the topology, timers."""

    def __init__(self, settings: StreamsSettings, bootstrap: str, client_id: str | None = None) -> None:
        self.s = settings
        self.input_topics = set(inputs(settings))
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{bootstrap}",
            broker_client_id=client_id or settings.app_id,
            store="stir://" if settings.store == "disk" else "memory://",  # stir: streams/store.py
            table_standby_replicas=settings.standby_replicas,
            topic_partitions=settings.partitions,
            value_serializer="raw",
            key_serializer="raw",
            web_port=settings.web_port,
            web_bind="127.0.0.1",
            datadir=str(settings.data_dir / settings.app_id),
            broker_commit_interval=settings.commit_interval_s,
            broker_session_timeout=settings.session_timeout_s,
            broker_heartbeat_interval=max(settings.session_timeout_s / 4, 1.0),
            broker_rebalance_timeout=settings.session_timeout_s * 2,  # how long the others wait for a slow member
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger_ms=5,
            # batches of 512 KiB, not faust's 16 KiB: a state's changelog record is a few KB, and with 16 KiB
            # batches a slice's changelog went out two records per request (the worker's main cost, profiled)
            producer_max_batch_size=settings.max_message_bytes,
            table_cleanup_interval=3600.0,
            stream_buffer_maxsize=settings.stream_buffer_messages,
        )
        raw: dict[str, Any] = {"value_serializer": "raw", "key_serializer": "raw", "partitions": settings.partitions}
        self.topology = topo = Topology(settings)
        self.inputs = {a.name: self.app.topic(*topo.names(read_by(a.name)), **raw) for a in STREAM_AGENTS}
        outputs = {t.name: self.app.topic(topo.name(t), **raw) for t in TOPICS if set(t.writers) & set(AGENTS)}
        # keys are the entity ids (raw bytes), values the state records' JSON; the changelog partition of a key is
        # the one Kafka's default partitioner gives it, which is the partition of its input rows (co-partitioned)
        opts: dict[str, Any] = {"default": None, "partitions": settings.partitions, "key_type": bytes,
                                "use_partitioner": True}  # fmt: skip
        self.tables = {a.name: StateTable(self.app.Table(a.name, **opts), a.state, settings.state_cache_keys)
                       for a in STREAM_AGENTS}  # fmt: skip
        self.handlers = {a.name: a.handler(settings) for a in STREAM_AGENTS}
        self.runtime = Runtime(self.app, settings, topo, outputs)
        self.refresh = RefreshRequests(settings)
        self._register()

    def _register(self) -> None:
        app = self.app
        for name in self.handlers:
            self._agent(name)

        @app.timer(interval=self.s.refresh_interval_s)
        async def refresh() -> None:
            await self.emit_refresh_requests()

        @app.timer(interval=5.0)
        async def gauges() -> None:
            for name, table in self.tables.items():
                m.TABLE_KEYS.labels(name).set(len(table))
            consumer, lags = self.app.consumer, {}
            for tp in consumer.assignment():
                hw = consumer.highwater(tp)
                position = await consumer.position(tp)
                lags[(tp.topic, tp.partition)] = hw - position if hw is not None and position is not None else None
            m.set_lag(lags, self.input_topics)

        async def forget_clocks(*_: Any, **__: Any) -> None:
            for handler in self.handlers.values():
                if isinstance(handler, ClockedBatch):
                    handler.clock.reset()

        app.on_partitions_revoked.connect(forget_clocks)
        app.on_partitions_assigned.connect(forget_clocks)

        @app.task
        async def metrics_server() -> None:
            if self.s.metrics_port:
                start_http_server(self.s.metrics_port, addr="127.0.0.1")

    def _agent(self, name: str) -> None:
        """One agent: runs of messages from its inputs through its handler, states in its table (concurrency 1)."""
        handler, table = self.handlers[name], self.tables[name]

        async def agent(stream: Any) -> None:
            async for events in stream.take_events(self.s.take_max_messages, within=self.s.take_within_s):
                await self.runtime.handle_or_die(events, name, handler, table)

        self.app.agent(self.inputs[name], concurrency=1, name=name)(agent)

    async def emit_refresh_requests(self) -> None:
        now = self.runtime.now_ms()
        states = ((k, v) for k, v in self.tables[posts.AGENT].items() if v is not None)  # streamed from the store
        rows = self.refresh(states, now)
        if rows:
            await self.runtime.send(REFRESH, {REQUESTS: rows})
            m.REFRESH_REQUESTS.inc(len(rows))


def inputs(settings: StreamsSettings) -> list[str]:
    """Every topic the agents read (their group's lag over these is the worker's backlog)."""
    return Topology(settings).inputs(AGENTS)


def topics(settings: StreamsSettings) -> list[str]:
    """Every topic the agents read or write (created up front with equal partition counts)."""
    return Topology(settings).touched(AGENTS)


def run_worker(settings: StreamsSettings, bootstrap: str) -> None:
    """Create the topics, then run one Faust worker in the foreground until SIGTERM/SIGINT."""
    faust_fixes.apply_all()
    ensure_topics(bootstrap, topics(settings), settings.partitions, configs=Topology(settings).configs())
    data_dir = settings.data_dir / settings.app_id
    membership.wait_for_previous_incarnation(bootstrap, settings.app_id, data_dir, settings.session_timeout_s * 1.5)
    client_id = membership.new_client_id(settings.app_id)
    membership.record(data_dir, client_id)
    streams_app = StreamsApp(settings, bootstrap, client_id)
    if settings.store == "disk":
        changelogs = {name: t.table.changelog_topic.get_topic_name() for name, t in streams_app.tables.items()}
        ids = topic_ids(bootstrap, list(changelogs.values()))
        tabledir = Path(streams_app.app.conf.tabledir)
        forget_foreign_checkpoints(tabledir, {name: ids[topic] for name, topic in changelogs.items()})
    # The states are many small objects. With Python's default collector thresholds (a young collection every
    # 700 allocations) the collector kept walking them: ~30 % of the worker's time in the profile agent's
    # benchmark (8.8k -> 12.6k events/s with these). The agents make few reference cycles.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    worker = faust_fixes.prompt_worker(streams_app.app, settings.shutdown_grace_s, loglevel=settings.log_level,
                                       quiet=True)  # fmt: skip
    worker.execute_from_commandline()
