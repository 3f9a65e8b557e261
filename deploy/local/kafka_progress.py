"""How far consumers got: committed-offset lag of a group, and the message count of topics."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition


def group_lag(bootstrap: str, group: str, topics: list[str]) -> int | None:
    """Messages not yet committed by ``group`` across ``topics`` (None until it committed on every partition
    that holds messages)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        md = c.list_topics(timeout=10)
        tps = [TopicPartition(t, p) for t in topics if t in md.topics for p in md.topics[t].partitions]
        lag = 0
        for tp in c.committed(tps, timeout=10):
            low, high = c.get_watermark_offsets(tp, timeout=10)
            if high == low:
                continue
            if tp.offset < 0:
                return None
            lag += high - tp.offset
        return lag
    finally:
        c.close()


def end_offsets(bootstrap: str, topics: list[str]) -> int:
    """Sum of the high watermarks (messages ever written) of ``topics``; missing topics count 0."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "stir-progress"})
    try:
        md = c.list_topics(timeout=10)
        total = 0
        for t in topics:
            if t in md.topics:
                for p in md.topics[t].partitions:
                    total += c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return total
    finally:
        c.close()
