"""The HTTP ingest API (aiohttp): ``POST /v1/events``, ``/healthz``, ``/metrics``, ``/openapi.json`` (the
document ``connectors/ingest/openapi.py`` generates from the contracts).

Status codes: 200 (at least one item accepted, or none sent; the body answers per item), 401 (missing/invalid bearer
token), 403 (the token may write none of the items' types), 413 (body or batch too large), 422 (nothing
valid), 429 (producer queue full: retry after a second), 503 (Kafka did not acknowledge in time).
Accepted means acknowledged by the broker (acks=all). Every rejected item, and every rejected body, goes
to the dead-letter topic with its original bytes (the record value) and its reason (headers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from confluent_kafka import KafkaException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.ingest import metrics as m
from connectors.ingest import openapi
from connectors.ingest.producer import AsyncProducer
from connectors.ingest.settings import IngestSettings
from connectors.ingest.tokens import Principal, TokenStore
from connectors.ingest.transform import BodyError, Rejected, group_messages, split_body, transform_batch
from schemas.kafka import ensure_topics
from schemas.registry import INGEST_TYPES
from schemas.topics import Topology

DLQ_HEAD_BYTES = 64 * 1024  # what is read, and kept, of a body over the size limit
DLQ_KEEP_BYTES = 512 * 1024  # the most of a rejected item or body a dead letter keeps (the broker takes 1 MiB)
STATE: web.AppKey[dict[str, Any]] = web.AppKey("state", dict)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    m.REQUESTS.labels(str(status)).inc()
    return web.json_response(body, status=status, headers=headers)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


log = logging.getLogger("stir.ingest")


class Ingest:
    def __init__(self, settings: IngestSettings, producer: AsyncProducer, tokens: TokenStore) -> None:
        self.s = settings
        self.producer = producer
        m.QUEUE_DEPTH.set_function(self.producer.queue_len)  # read at every scrape
        self.in_flight: dict[str, int] = {}  # requests in flight per token name
        self.tokens = tokens

    def _dlq(
        self, original: bytes, code: str, reason: str, principal: Principal | None, **extra: str
    ) -> asyncio.Future[Any]:
        """Dead-letter ``original`` (its first ``DLQ_KEEP_BYTES`` when longer: a record the broker takes); a
        future of the delivery, failed rather than raised when Kafka refuses it (a full queue still raises
        ``BufferError``, for the caller's retry answer)."""
        headers = [
            ("dlq.reason", reason.encode("utf-8", "backslashreplace")[:4000]),
            ("dlq.code", code.encode()),
            ("dlq.source", b"ingest"),
            ("dlq.received_at", str(_now_ms()).encode()),
        ]
        if principal is not None:
            headers.append(("dlq.principal", principal.name.encode()))
        headers += [(f"dlq.{k}", v.encode()) for k, v in extra.items()]
        keep = min(DLQ_KEEP_BYTES, max(self.s.max_message_bytes, self.s.max_event_bytes))  # what the producer sends
        if len(original) > keep:
            headers += [("dlq.truncated", b"true"), ("dlq.original_bytes", str(len(original)).encode())]
            original = original[:keep]
        m.DLQ.inc()
        try:
            return self.producer.produce(self.s.topic_prefix + self.s.dlq_topic, original, None, None, headers)
        except KafkaException as e:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(e)
            return failed

    async def _dead_letter_body(self, body: bytes, code: str, reason: str, principal: Principal) -> bool:
        """A rejected body to the dead-letter topic; False when Kafka did not take it (the caller answers 503)."""
        try:
            await self._dlq(body, code, reason, principal)
        except (KafkaException, BufferError) as e:
            log.warning("a rejected body (%s) was not dead-lettered: %s", code, e)
            return False
        m.REJECTIONS.labels(code).inc()
        return True

    async def _read_limited(self, request: web.Request) -> tuple[bytes, bool]:
        """The body, or its first bytes and True when it is over the limit."""
        limit = self.s.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return await request.content.read(DLQ_HEAD_BYTES), True
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.readany()
            if not chunk:
                return b"".join(chunks), False
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:
                return b"".join(chunks)[:DLQ_HEAD_BYTES], True

    async def events(self, request: web.Request) -> web.Response:
        principal = self.tokens.authenticate(request.headers.get("Authorization"))
        if principal is None:
            return _json(401, {"error": "missing or invalid bearer token"}, {"WWW-Authenticate": "Bearer"})
        queued = self.producer.queue_len()
        if queued > self.s.queue_high_watermark:
            return _json(429, {"error": "ingest is saturated; retry later"}, {"Retry-After": "1"})
        if self.in_flight.get(principal.name, 0) >= self.s.token_max_concurrent:
            m.REJECTIONS.labels("token_concurrency").inc()
            return _json(
                429,
                {
                    "error": f"this token has {self.s.token_max_concurrent} requests in flight already "
                    "(STIR_INGEST_TOKEN_MAX_CONCURRENT); retry later"
                },
                {"Retry-After": "1"},
            )
        self.in_flight[principal.name] = self.in_flight.get(principal.name, 0) + 1
        try:
            return await self._events(request, principal)
        finally:
            left = self.in_flight[principal.name] - 1
            if left:
                self.in_flight[principal.name] = left
            else:
                del self.in_flight[principal.name]

    async def _events(self, request: web.Request, principal: Principal) -> web.Response:
        body, oversized = await self._read_limited(request)
        unavailable = {"error": "Kafka did not take the rejected body to the dead-letter topic; retry"}
        if oversized:
            reason = f"body over {self.s.max_body_bytes} bytes (first bytes kept)"
            if not await self._dead_letter_body(body, "oversized", reason, principal):
                return _json(503, unavailable, {"Retry-After": "1", "Connection": "close"})
            return _json(413, {"error": f"body larger than {self.s.max_body_bytes} bytes"}, {"Connection": "close"})
        try:
            items = split_body(body, request.content_type or "application/json")
        except BodyError as e:
            if not await self._dead_letter_body(body, "invalid_json", str(e), principal):
                return _json(503, unavailable, {"Retry-After": "1"})
            return _json(422, {"error": str(e), "accepted": 0, "rejected": 1})
        if len(items) > self.s.max_batch_items:
            reason = f"{len(items)} items; a batch holds at most {self.s.max_batch_items}"
            if not await self._dead_letter_body(body, "too_many_items", reason, principal):
                return _json(503, unavailable, {"Retry-After": "1"})
            return _json(413, {"error": reason})
        if not items:  # an empty array: nothing to do
            return _json(200, {"accepted": 0, "rejected": 0, "results": []})
        return await self._produce_batch(items, principal)

    async def _produce_batch(self, items: list[bytes], principal: Principal) -> web.Response:
        skew_ms = int(self.s.max_future_skew_s * 1000)
        outcome = transform_batch(items, principal, _now_ms(), self.s.max_event_bytes, skew_ms)
        results: list[dict[str, Any]] = [{} for _ in items]
        try:
            messages = group_messages(
                outcome.accepted,
                lambda t: self.producer.partitions(self.s.topic_prefix + t),
                self.s.max_rows_per_message,
                self.s.max_message_bytes,
            )
        except KafkaException as e:
            return _json(503, {"error": f"kafka metadata unavailable: {e}"}, {"Retry-After": "1"})
        pending: list[tuple[asyncio.Future[Any], tuple[int, ...], float]] = []
        retry: set[int] = set()
        for msg in messages:
            headers = [("content-type", b"application/x-ndjson"), ("rows", str(len(msg.indexes)).encode())]
            try:
                fut = self.producer.produce(self.s.topic_prefix + msg.topic, msg.value, msg.key, msg.partition, headers)
            except BufferError:
                retry.update(msg.indexes)
                continue
            pending.append((fut, msg.indexes, time.perf_counter()))
            m.MESSAGE_ROWS.observe(len(msg.indexes))
        dlq_futs = []
        for r in outcome.rejected:
            try:
                dlq_futs.append(
                    self._dlq(r.original, r.code, r.reason, principal, index=str(r.index), type=r.event_type or "")
                )
            except BufferError:
                retry.add(r.index)
        failed: set[int] = set()
        for fut, indexes, t0 in pending:
            try:
                await asyncio.wait_for(fut, self.s.delivery_timeout_s)
                m.PRODUCE_SECONDS.observe(time.perf_counter() - t0)
            except (KafkaException, TimeoutError):
                failed.update(indexes)
        dlq_results = await asyncio.gather(*dlq_futs, return_exceptions=True)
        dlq_failed = {
            r.index for r, res in zip(outcome.rejected, dlq_results, strict=False) if isinstance(res, BaseException)
        }

        accepted = 0
        for a in outcome.accepted:
            if a.index in retry or a.index in failed:
                results[a.index] = {"index": a.index, "status": "retry", "reason": "not acknowledged by Kafka; retry"}
            else:
                results[a.index] = {"index": a.index, "status": "accepted", "event_id": a.event_id}
                m.EVENTS.labels(a.topic, "accepted").inc()
                accepted += 1
        for r in outcome.rejected:
            results[r.index] = _rejected(r, dlq_ok=r.index not in dlq_failed and r.index not in retry)
            m.EVENTS.labels(r.event_type or "unknown", "rejected").inc()
            m.REJECTIONS.labels(r.code).inc()
        body = {"accepted": accepted, "rejected": len(outcome.rejected), "results": results}
        if retry:
            return _json(429, body, {"Retry-After": "1"})
        if failed or dlq_failed:
            return _json(503, body, {"Retry-After": "1"})
        if accepted:
            return _json(200, body)
        if outcome.rejected and all(r.code == "forbidden" for r in outcome.rejected):
            return _json(403, body)
        return _json(422, body)

    async def healthz(self, _request: web.Request) -> web.Response:
        try:
            topic = self.s.topic_prefix + self.s.dlq_topic
            await asyncio.get_running_loop().run_in_executor(None, self.producer.partitions, topic)
        except KafkaException as e:  # the reason goes to the log, not to whoever asks
            log.warning("healthz: Kafka does not answer: %s", e)
            return web.json_response({"status": "unhealthy"}, status=503)
        return web.json_response({"status": "ok"})


def _rejected(r: Rejected, dlq_ok: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"index": r.index, "status": "rejected", "code": r.code, "reason": r.reason}
    if not dlq_ok:
        out["dead_lettered"] = False
    return out


async def metrics_view(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(settings: IngestSettings, bootstrap: str) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    state: dict[str, Any] = {}
    app[STATE] = state

    async def on_startup(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        names = [settings.topic_prefix + t for t in (*INGEST_TYPES, settings.dlq_topic)]
        configs = Topology(settings).configs()
        await loop.run_in_executor(None, lambda: ensure_topics(bootstrap, names, settings.partitions, configs=configs))
        producer = AsyncProducer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": settings.linger_ms,
                "compression.type": "lz4",
                "partitioner": "murmur2_random",
                "message.max.bytes": max(settings.max_message_bytes, settings.max_event_bytes) + 64 * 1024,
                "queue.buffering.max.messages": settings.queue_high_watermark * 2,
            },
            loop,
        )
        state["ingest"] = Ingest(settings, producer, TokenStore(settings.tokens_file))

    async def on_cleanup(app: web.Application) -> None:
        ingest = state.get("ingest")
        if ingest is not None:
            await asyncio.get_running_loop().run_in_executor(None, ingest.producer.close)

    async def events(request: web.Request) -> web.Response:
        return await state["ingest"].events(request)

    async def healthz(request: web.Request) -> web.Response:
        return await state["ingest"].healthz(request)

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_post("/v1/events", events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    spec = openapi.render(settings).encode()

    async def openapi_view(_request: web.Request) -> web.Response:
        return web.Response(body=spec, content_type="application/json")

    app.router.add_get("/openapi.json", openapi_view)
    return app


def serve(settings: IngestSettings, bootstrap: str) -> None:
    web.run_app(build_app(settings, bootstrap), host=settings.host, port=settings.port, access_log=None, print=None)
