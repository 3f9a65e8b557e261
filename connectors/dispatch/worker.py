"""The dispatcher's loop: consume ``social.scrape.request``, POST each request, commit past delivered messages."""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from pydantic import ValidationError

from connectors.dispatch import metrics as m
from connectors.dispatch.delivery import Backoff, SendLog, retry_after_s, verdict
from connectors.dispatch.settings import DispatchSettings
from schemas.models import RefreshRequest
from schemas.topics import Topology

log = logging.getLogger("stir.dispatch")
POLL_S = 0.5


class Dispatcher:
    def __init__(self, settings: DispatchSettings, clock: Callable[[], float] = time.time) -> None:
        if not settings.scraper_url:
            raise ValueError("STIR_DISPATCH_SCRAPER_URL: not set (the scraper API endpoint that takes requests)")
        self.s, self.clock = settings, clock
        topo = Topology(settings)
        self.topic, self.dlq_topic = topo.name("social.scrape.request"), topo.name("dlq.dispatch")
        self.headers = {"Authorization": f"Bearer {settings.bearer()}", "Content-Type": "application/json"}
        self.sends = SendLog(settings.send_log, settings.max_per_window, settings.window_s, clock())
        self.stopping = False
        self.current: tuple[str, int] | None = None  # the partition of the message being delivered
        self.lost = False  # its partition was revoked: leave the message to its next owner
        self.waiting = False
        self.pending: deque[Any] = deque()  # messages polled while waiting, in the order polled
        self.consumer: Any = None
        self.delivered = 0

    # --- the consumer's callbacks -------------------------------------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")
        consumer.assign(partitions)
        if self.waiting:  # keep new partitions quiet until the wait ends
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")
        gone = {(p.topic, p.partition) for p in partitions}
        if self.current in gone:
            self.lost = True
        self.pending = deque(m for m in self.pending if (m.topic(), m.partition()) not in gone)

    def stop(self, *_: object) -> None:
        self.stopping = True

    # --- waiting without leaving the group ----------------------------------------------------------
    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` while polling (partitions paused), so the group sees a live member and rebalances go
        on. False when the dispatcher stops or the current message's partition was revoked meanwhile."""
        end = time.monotonic() + seconds
        c = self.consumer
        self.waiting = True
        c.pause(c.assignment())
        try:
            while not (self.stopping or self.lost):
                left = end - time.monotonic()
                if left <= 0:
                    return True
                msg = c.poll(min(POLL_S, left))
                if msg is not None and not msg.error():  # fetched before the pause: handle it after this one
                    self.pending.append(msg)  # (no seek: librdkafka may resume a sought paused partition elsewhere)
            return False
        finally:
            self.waiting = False
            c.resume(c.assignment())

    # --- one request --------------------------------------------------------------------------------
    def deliver(self, client: httpx.Client, req: RefreshRequest, msg: Any) -> bool:
        """POST ``req`` until the scraper takes or refuses it (True), or the message is abandoned (False)."""
        body = req.model_dump_json()
        headers = {**self.headers, "Idempotency-Key": req.request_id}
        backoff = Backoff(self.s.backoff_initial_s, self.s.backoff_max_s)
        while True:
            wait = self.sends.wait_s(self.clock())
            if wait > 0:
                m.RATE_WAIT.inc(wait)
                if not self._wait(wait):
                    return False
                continue
            self.sends.record(self.clock())
            delay: float | None
            try:
                r = client.post(self.s.scraper_url, content=body, headers=headers)
            except httpx.HTTPError as e:
                m.POSTS.labels("error").inc()
                why, delay = f"{type(e).__name__}: {e}", None
            else:
                v = verdict(r.status_code)
                m.POSTS.labels(v).inc()
                if v == "delivered":
                    m.DELIVERED.labels(req.flow).inc()
                    m.BACKOFF.set(0)
                    self.delivered += 1
                    return True
                if v == "refused":
                    self.dead_letter(msg, body.encode(), f"the scraper refused it: HTTP {r.status_code} "
                                     f"{r.text[:300]!r}", "refused")  # fmt: skip
                    return True
                why, delay = f"HTTP {r.status_code}", retry_after_s(r.headers, self.s.backoff_max_s)
            delay = delay if delay is not None else backoff.next_s()
            m.BACKOFF.set(delay)
            log.warning("request %s not delivered (%s); retrying in %.1f s", req.request_id, why, delay)
            if not self._wait(delay):
                return False

    def dead_letter(self, msg: Any, value: bytes, reason: str, code: str) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            ("dlq.reason", reason.encode("utf-8", "backslashreplace")[:4000]), ("dlq.code", code.encode()),
            ("dlq.topic", (msg.topic() or "").encode()), ("dlq.partition", str(msg.partition()).encode()),
            ("dlq.offset", str(msg.offset()).encode()),
        ]  # fmt: skip
        self.producer.produce(self.dlq_topic, value=value, key=msg.key(), headers=headers)
        m.DEAD_LETTERS.labels(code).inc()
        log.warning("dead-lettered a line of %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), reason)

    # --- one message --------------------------------------------------------------------------------
    def handle(self, client: httpx.Client, msg: Any) -> bool:
        """Deliver every request of ``msg`` (JSON lines); True when its offset may be committed."""
        self.current, self.lost = (msg.topic(), msg.partition()), False
        for line in (msg.value() or b"").splitlines():
            if not line.strip():
                continue
            try:
                req = RefreshRequest.model_validate_json(line)
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "line"
                self.dead_letter(msg, line, f"not a scrape request: {where}: {first['msg']}", "invalid")
                continue
            if not self.deliver(client, req, msg):
                return False
        while self.producer.flush(POLL_S) and not self.stopping:  # the dead letters are safe before the commit
            self._wait(0)
        return not self.stopping

    def run(self) -> None:
        s = self.s
        self.consumer = Consumer({
            "bootstrap.servers": s.bootstrap, "group.id": s.group_id, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 10_000, "max.poll.interval.ms": 300_000,
        })  # fmt: skip
        self.producer = Producer({"bootstrap.servers": s.bootstrap, "enable.idempotence": True,
                                  "partitioner": "murmur2_random"})  # fmt: skip
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._signal)
        log.info("dispatching %s to %s (at most %s per %.0f s)", self.topic, s.scraper_url, s.max_per_window,
                 s.window_s)  # fmt: skip
        try:
            with httpx.Client(timeout=s.timeout_s) as client:
                while not self.stopping:
                    msg = self.pending.popleft() if self.pending else self.consumer.poll(POLL_S)
                    if msg is None:
                        continue
                    if msg.error():
                        log.warning("consumer: %s", msg.error())
                        continue
                    if self.handle(client, msg) and not self.lost:
                        self._commit(msg)
        finally:
            self.producer.flush(5)
            self.consumer.close()

    def _commit(self, msg: Any) -> None:
        """Commit past ``msg``, retrying per-partition errors (e.g. the coordinator still loading the group's offsets,
        which a synchronous commit reports in its answer rather than raising) while the partition is ours."""
        tp = TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)
        why = ""
        for _ in range(10):
            try:
                done = self.consumer.commit(offsets=[tp], asynchronous=False)
            except KafkaException as e:
                why = str(e)
            else:
                errors = [str(p.error) for p in done or [] if p.error is not None]
                if not errors:
                    return
                why = ", ".join(errors)
            if not self._wait(0.5):
                break
        log.warning("commit of %s[%s]@%s failed (%s): the message will be delivered again", msg.topic(),
                    msg.partition(), msg.offset(), why)  # fmt: skip

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()
