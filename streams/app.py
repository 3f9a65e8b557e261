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

import json
import logging
import time
import uuid
from collections import defaultdict
from typing import Any

import faust
from prometheus_client import start_http_server
from pydantic import BaseModel

from connectors.ingest.partitioner import partition_for
from schemas.models import (
    PostMetrics,
    PostSnapshot,
    ProfileRollingMetrics,
    ProfileSnapshot,
    RefreshRequest,
    ScrapePostStatus,
    ScrapeRequestStatus,
)
from streams import metrics as m
from streams import transform_post as tpost
from streams import transform_profile as tprof
from streams.records import BadRecord, decode_lines, envelope, model_parser
from streams.settings import StreamsSettings

log = logging.getLogger("stir.streams")
REFRESH_NS = uuid.UUID("0d6e9f0a-2b1c-4c7e-8a55-6f2f3b9c1d42")
INTERNAL_POSTS = "internal.post.by_profile"


def _json_row(line: bytes) -> dict[str, Any]:
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("a row must be a JSON object")
    return obj


def _cdc_row(line: bytes) -> dict[str, Any]:
    row = _json_row(line)
    if "source" not in row or "op" not in row:
        raise ValueError("not a Debezium change event (no source/op)")
    return row


def _internal_post(line: bytes) -> dict[str, Any]:
    row = _json_row(line)
    for k in ("post_id", "profile_id", "pv", "published_at", "likes", "comments"):
        if k not in row:
            raise KeyError(k)
    return row


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

    @staticmethod
    def _line(model: type[BaseModel], topic: str, row: dict[str, Any], key: str, event_time: int, agent: str) -> bytes:
        full = {**envelope(topic, key, row["version"], event_time, f"streams.{agent}"), **row}
        return model.model_validate(full).model_dump_json().encode()

    # --- posts -------------------------------------------------------------------------------------
    async def handle_post_message(self, event: Any) -> None:
        msg = event.message
        name = self._name(msg.topic)
        snaps: list[PostSnapshot] = []
        facts: list[tpost.ScrapeFact] = []
        if name == "social.post.snapshot":
            snaps, bad = decode_lines(event.value, model_parser(PostSnapshot))
            keys = [s.post_id for s in snaps]
        elif name == "social.scrape.status":
            evs, bad = decode_lines(event.value, model_parser(ScrapeRequestStatus))
            facts = [tpost.scrape_fact_from_event(e) for e in evs]
            keys = [e.post_id for e in evs]
        else:  # scrape_requests CDC: one change per message, keyed by post_id
            rows, bad = decode_lines(event.value, _cdc_row)
            keys, facts = [], []
            for r in rows:
                fact = tpost.scrape_fact_from_cdc(r)
                if fact is not None:
                    facts.append(fact)
                    keys.append(str(r["after"]["post_id"]))
        m.EVENTS_IN.labels("posts", name).inc(len(keys) + len(bad))
        await self._dead_letter("posts", bad, msg)
        by_key: dict[str, tuple[list[PostSnapshot], list[tpost.ScrapeFact]]] = defaultdict(lambda: ([], []))
        for i, key in enumerate(keys):
            if snaps:
                by_key[key][0].append(snaps[i])
            else:
                by_key[key][1].append(facts[i])
        now = self.now_ms()
        out: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        new_states: dict[str, tpost.PostState] = {}
        for key, (key_snaps, key_facts) in by_key.items():
            stored = self.post_table.get(key.encode())
            state = json.loads(json.dumps(stored)) if stored is not None else tpost.new_state()
            res = tpost.PostOutcome()
            tpost.apply_snapshots(state, key_snaps, self.s.allowed_lateness_ms, res)
            tpost.apply_scrapes(state, key_facts, self.s.allowed_lateness_ms, res)
            m.DUPLICATES.labels("posts").inc(res.duplicates)
            m.LATE.labels("posts").inc(res.late_dropped)
            if not (res.changed_counters or res.changed_scrape) and state == stored:
                continue
            new_states[key] = state
            if res.changed_counters:
                counters = tpost.counters_row(key, state)
                if counters is not None:
                    out[INTERNAL_POSTS].append((counters["profile_id"], json.dumps(counters).encode()))
            status = tpost.status_row(key, state, now)
            if status is not None:
                event_time = max(state["smax"] or 0, state["max_t"] or 0)
                out["status.scrape.post"].append(
                    (key, self._line(ScrapePostStatus, "status.scrape.post", status, key, event_time, "posts"))
                )
                m.LATENCY.labels("posts").observe(max(now - event_time, 0) / 1000)
        await self._send("posts", out)
        for key, state in new_states.items():
            self.post_table[key.encode()] = state

    # --- profiles ----------------------------------------------------------------------------------
    async def handle_profile_message(self, event: Any) -> None:
        msg = event.message
        name = self._name(msg.topic)
        by_key: dict[str, tuple[list[ProfileSnapshot], list[dict[str, Any]], list[dict[str, Any]]]] = defaultdict(
            lambda: ([], [], [])
        )
        if name == "social.profile.snapshot":
            snaps, bad = decode_lines(event.value, model_parser(ProfileSnapshot))
            for s in snaps:
                by_key[s.profile_id][0].append(s)
            n = len(snaps)
        elif name == INTERNAL_POSTS:
            rows, bad = decode_lines(event.value, _internal_post)
            for r in rows:
                by_key[str(r["profile_id"])][2].append(r)
            n = len(rows)
        else:  # profiles CDC
            rows, bad = decode_lines(event.value, _cdc_row)
            for r in rows:
                image = r.get("after") or r.get("before") or {}
                by_key[str(image["id"])][1].append(r)
            n = len(rows)
        m.EVENTS_IN.labels("profiles", name).inc(n + len(bad))
        await self._dead_letter("profiles", bad, msg)
        now = self.now_ms()
        out: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        new_states: dict[str, tprof.ProfileState] = {}
        for key, (key_snaps, key_cdc, key_posts) in by_key.items():
            stored = self.profile_table.get(key.encode())
            state = json.loads(json.dumps(stored)) if stored is not None else tprof.new_state()
            res = tprof.ProfileOutcome()
            tprof.apply_snapshots(state, key_snaps, self.s.allowed_lateness_ms, res)
            tprof.apply_cdc(state, key_cdc, res)
            tprof.apply_posts(state, key_posts, res)
            m.DUPLICATES.labels("profiles").inc(res.duplicates)
            m.LATE.labels("profiles").inc(res.late_dropped)
            if not res.changed:
                continue
            new_states[key] = state
            row = tprof.profile_row(key, state)
            if row is None:
                as_of = 0
            else:
                as_of = row["as_of"]
                out["metrics.profile.rolling"].append(
                    (key, self._line(ProfileRollingMetrics, "metrics.profile.rolling", row, key, as_of, "profiles"))
                )
                m.LATENCY.labels("profiles").observe(max(now - as_of, 0) / 1000)
            changed_posts = None if res.followers_changed else res.posts_changed
            for prow in tprof.post_rows(key, state, changed_posts):
                pid = prow["post_id"]
                t = max(as_of, state["posts"][pid][1])
                out["metrics.post.rolling"].append(
                    (pid, self._line(PostMetrics, "metrics.post.rolling", prow, pid, t, "profiles"))
                )
        await self._send("profiles", out)
        for key, state in new_states.items():
            self.profile_table[key.encode()] = state

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
