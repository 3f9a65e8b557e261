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
- a timer emits refresh requests for stale posts on ``social.scrape.request``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import start_http_server

from connectors.ingest.partitioner import partition_for
from schemas.models import RefreshRequest
from streams import batch
from streams import metrics as m
from streams import transform_post as tpost
from streams.batch import INTERNAL_POSTS
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
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger_ms=5,
            stream_wait_empty=False,
            table_cleanup_interval=3600.0,
        )
        raw: dict[str, Any] = {"value_serializer": "raw", "key_serializer": "raw", "partitions": settings.partitions}
        t = settings.topic
        self.post_in = self.app.topic(
            t("social.post.snapshot"), t("social.scrape.status"), settings.cdc_topic("scrape_requests"), **raw
        )
        self.profile_in = self.app.topic(
            t("social.profile.snapshot"), settings.cdc_topic("profiles"), t(INTERNAL_POSTS), **raw
        )
        self.outputs = {
            name: self.app.topic(t(name), **raw)
            for name in (
                INTERNAL_POSTS,
                "status.scrape.post",
                "metrics.profile.rolling",
                "metrics.post.rolling",
                "social.scrape.request",
                "dlq.streams",
            )
        }
        # bytes keys travel raw; values (JSON-able dicts) as JSON
        self.post_table = self.app.Table("posts", default=None, partitions=settings.partitions, key_type=bytes)
        self.profile_table = self.app.Table("profiles", default=None, partitions=settings.partitions, key_type=bytes)
        self.requested: dict[str, int] = {}
        self._register()

    # --- wiring ------------------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app

        @app.agent(self.post_in, concurrency=1, name="posts")
        async def posts(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self.handle_post_message(event)

        @app.agent(self.profile_in, concurrency=1, name="profiles")
        async def profiles(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self.handle_profile_message(event)

        @app.timer(interval=self.s.refresh_interval_s)
        async def refresh() -> None:
            await self.emit_refresh_requests()

        @app.timer(interval=5.0)
        async def gauges() -> None:
            m.TABLE_KEYS.labels("posts").set(len(self.post_table))
            m.TABLE_KEYS.labels("profiles").set(len(self.profile_table))
            for tp in self.app.consumer.assignment():
                hw = self.app.consumer.highwater(tp)
                committed = getattr(self.app.consumer, "_committed_offset", {}).get(tp)  # no public accessor
                if hw is not None and committed is not None:
                    m.LAG.labels(tp.topic, str(tp.partition)).set(max(hw - committed, 0))

        @app.task
        async def metrics_server() -> None:
            if self.s.metrics_port:
                start_http_server(self.s.metrics_port, addr="127.0.0.1")

    def now_ms(self) -> int:
        return self.s.clock_ms if self.s.clock_ms is not None else time.time_ns() // 1_000_000

    def _name(self, topic: str) -> str:
        return topic[len(self.s.topic_prefix) :] if topic.startswith(self.s.topic_prefix) else topic

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
                value = b"\n".join(line for _, line in items)
                fut = await self.outputs[name].send(key=items[0][0].encode(), value=value, partition=part)
                futures.append(fut)
                m.EVENTS_OUT.labels(agent, name).inc(len(items))
        for fut in futures:
            await fut

    # --- agents' message handlers: decode, transform (pure), send, then persist -------------------
    async def handle_post_message(self, event: Any) -> None:
        msg = event.message
        res = batch.post_batch(self._name(msg.topic), event.value, self._get(self.post_table), self.s, self.now_ms())
        await self._finish("posts", msg, res, self.post_table)

    async def handle_profile_message(self, event: Any) -> None:
        msg = event.message
        res = batch.profile_batch(
            self._name(msg.topic), event.value, self._get(self.profile_table), self.s, self.now_ms()
        )
        await self._finish("profiles", msg, res, self.profile_table)

    @staticmethod
    def _get(table: Any) -> Callable[[str], Any]:
        return lambda key: table.get(key.encode())

    async def _finish(self, agent: str, msg: Any, res: batch.BatchResult, table: Any) -> None:
        m.EVENTS_IN.labels(agent, self._name(msg.topic)).inc(res.rows_in)
        m.DUPLICATES.labels(agent).inc(res.duplicates)
        m.LATE.labels(agent).inc(res.late_dropped)
        for seconds in res.latencies_s:
            m.LATENCY.labels(agent).observe(seconds)
        await self._dead_letter(agent, res.bad, msg)
        await self._send(agent, res.out)
        for key, state in res.states.items():
            table[key.encode()] = state

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


def topics(settings: StreamsSettings) -> list[str]:
    """Every topic the agents read or write (created up front with equal partition counts)."""
    t = settings.topic
    names = [t("social.post.snapshot"), t("social.scrape.status"), t("social.profile.snapshot"),
             settings.cdc_topic("scrape_requests"), settings.cdc_topic("profiles"), t(INTERNAL_POSTS),
             t("status.scrape.post"), t("metrics.profile.rolling"), t("metrics.post.rolling"),
             t("social.scrape.request"), t("dlq.streams")]  # fmt: skip
    return names


def run_worker(settings: StreamsSettings, bootstrap: str) -> None:
    """Create the topics, then run one Faust worker in the foreground until SIGTERM/SIGINT."""
    from connectors.ingest.producer import ensure_topics

    ensure_topics(bootstrap, topics(settings), settings.partitions)
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(settings, bootstrap)
    worker = faust.Worker(pipeline.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
