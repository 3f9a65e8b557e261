"""``stir replay reset-offsets``: move a consumer group's committed offsets of a topic to a point in time, so
that the group re-processes everything from there (the group must have no active member)."""

from __future__ import annotations

from datetime import datetime

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


def plan(bootstrap: str, group: str, topic: str, at: datetime) -> list[tuple[int, int | None, int]]:
    """(partition, current committed offset or None, new offset) for every partition of ``topic``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(topic, timeout=10).topics.get(topic)
    if md is None or md.error is not None:
        raise ValueError(f"topic {topic!r} does not exist")
    parts = sorted(md.partitions)
    ms = int(at.timestamp() * 1000)
    by_time = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.for_timestamp(ms) for p in parts})
    latest = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in parts})
    committed_req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in parts])]
    committed = admin.list_consumer_group_offsets(committed_req)[group].result()
    current = {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in committed.topic_partitions}
    out = []
    for p in parts:
        found = by_time[TopicPartition(topic, p)].result().offset
        new = found if found >= 0 else latest[TopicPartition(topic, p)].result().offset
        out.append((p, current.get(p), new))
    return out


def apply(bootstrap: str, group: str, topic: str, moves: list[tuple[int, int | None, int]]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    desc = admin.describe_consumer_groups([group])[group].result()
    if desc.members:
        raise RuntimeError(f"group {group!r} has {len(desc.members)} active member(s); stop its consumers first")
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, new) for p, _, new in moves])]
    admin.alter_consumer_group_offsets(req)[group].result()
