"""An asyncio face on confluent-kafka's Producer: each produce returns a future resolved on delivery."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer


class AsyncProducer:
    def __init__(self, conf: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self._p = Producer(conf)
        self._loop = loop
        self._stop = threading.Event()
        self._partitions: dict[str, int] = {}
        self._thread = threading.Thread(target=self._poll, name="ingest-producer-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._p.poll(0.05)

    def produce(
        self, topic: str, value: bytes, key: bytes | None, partition: int | None, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[Message]:
        fut: asyncio.Future[Message] = self._loop.create_future()

        def done(err: KafkaError | None, msg: Message) -> None:
            self._loop.call_soon_threadsafe(_resolve, fut, err, msg)

        kwargs: dict[str, Any] = {"value": value, "key": key, "headers": headers, "on_delivery": done}
        if partition is not None:
            kwargs["partition"] = partition
        self._p.produce(topic, **kwargs)  # raises BufferError when the local queue is full
        return fut

    def queue_len(self) -> int:
        return len(self._p)

    def partitions(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            md = self._p.list_topics(topic, timeout=10)
            t = md.topics[topic]
            if t.error is not None:
                raise KafkaException(t.error)
            n = self._partitions[topic] = len(t.partitions)
        return n

    def close(self, timeout_s: float = 30.0) -> int:
        left = self._p.flush(timeout_s)
        self._stop.set()
        self._thread.join(5)
        return int(left)


def _resolve(fut: asyncio.Future[Message], err: KafkaError | None, msg: Message) -> None:
    if fut.done():
        return
    if err is not None:
        fut.set_exception(KafkaException(err))
    else:
        fut.set_result(msg)
