"""Test helpers for a real Kafka broker: topics and bounded consumption."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

_NOT_YET = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name]
    fut.result(timeout=30)


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.delete_topics(names, operation_timeout=30).values():
        with contextlib.suppress(KafkaException):
            fut.result(timeout=30)


def consume(
    bootstrap: str, topic: str, group: str, count: int, timeout_s: float = 60.0, rows: int | None = None
) -> list[Message]:
    """Read from the earliest offset until ``count`` messages (tombstones included) or, with ``rows``, that
    many JSON lines across messages arrived, or time is up."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 500,
            "fetch.queue.backoff.ms": 10,
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    seen_rows = 0
    deadline = time.monotonic() + timeout_s

    def done() -> bool:
        return seen_rows >= rows if rows is not None else len(out) >= count

    try:
        while not done() and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() in _NOT_YET:  # topic not created yet
                    continue
                raise KafkaException(error)
            out.append(msg)
            seen_rows += len((msg.value() or b"").split(b"\n"))
    finally:
        consumer.close()
    return out


def produce_messages(bootstrap: str, prefix: str, msgs: list[tuple[str, int, bytes]]) -> None:
    """``(topic name, partition, value)`` messages to ``prefix + name``, idempotently, all acknowledged."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "enable.idempotence": True})
    for name, part, value in msgs:
        p.produce(prefix + name, value=value, partition=part)
        p.poll(0)
    assert p.flush(60) == 0


def read_lines(bootstrap: str, prefix: str, names: list[str], on_line: Callable[[str, bytes], None]) -> None:
    """Every JSON line of ``prefix + name`` for each name, partition by partition from the low to the high
    watermark (each key's order as produced); ``on_line(name, line)``."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time_ns()}", "enable.auto.commit": False,
                  "fetch.queue.backoff.ms": 10})  # fmt: skip
    md = c.list_topics(timeout=10)
    try:
        for name in names:
            topic = prefix + name
            for p in sorted(md.topics[topic].partitions):
                low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high <= low:
                    continue
                c.assign([TopicPartition(topic, p, low)])
                pos = low
                while pos < high:
                    msg = c.poll(5)
                    assert msg is not None, f"stalled reading {topic}[{p}] at {pos}/{high}"
                    if msg.error():
                        continue
                    pos = (msg.offset() or 0) + 1
                    for line in (msg.value() or b"").split(b"\n"):
                        if line.strip():
                            on_line(name, line)
    finally:
        c.close()
