"""Kafka helpers every stage uses: the default partitioner, topic creation, how far a consumer group got.

``partition_for`` is Kafka's default partitioner for keyed records (the Java client's, and librdkafka's with
``partitioner=murmur2_random``): whatever writes a keyed row computes the partition the broker's other clients
would, so one entity's rows on different topics land on the same partition number.
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 as in ``org.apache.kafka.common.utils.Utils.murmur2`` (returned as unsigned 32-bit)."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    n4 = length - (length % 4)
    for i in range(0, n4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[n4 + 2] << 16
    if rest >= 2:
        h ^= data[n4 + 1] << 8
    if rest >= 1:
        h ^= data[n4]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def ensure_topics(bootstrap: str, topics: list[str], partitions: int, replication_factor: int = 1,
                  configs: dict[str, dict[str, str]] | None = None) -> None:  # fmt: skip
    """Create the topics that do not exist yet, each with its ``configs`` (the declared ones:
    ``Topology.configs()``); existing ones are left as they are."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    configs = configs or {}
    new = [
        NewTopic(t, num_partitions=partitions, replication_factor=replication_factor, config=configs.get(t, {}))
        for t in topics
        if t not in existing
    ]
    if not new:
        return
    for topic, fut in admin.create_topics(new).items():
        try:
            fut.result(timeout=30)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {topic}: {e}") from e


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


def config_drift(bootstrap: str, configs: dict[str, dict[str, str]]) -> dict[str, dict[str, tuple[str, str]]]:
    """Existing topics of ``configs`` whose configs differ from the declared ones: topic -> {name: (now, declared)}
    (a missing topic is not drift: ``ensure_topics`` creates it)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    present = [t for t in configs if t in admin.list_topics(timeout=10).topics and configs[t]]
    drift: dict[str, dict[str, tuple[str, str]]] = {}
    if not present:
        return drift
    for res, fut in admin.describe_configs([ConfigResource("topic", t) for t in present]).items():
        now = fut.result(timeout=30)
        diff = {k: (now[k].value if k in now else "", v) for k, v in configs[res.name].items()
                if k not in now or now[k].value != v}  # fmt: skip
        if diff:
            drift[res.name] = diff
    return drift


def align_configs(bootstrap: str, drift: dict[str, dict[str, tuple[str, str]]]) -> None:
    """Set the declared values of ``drift`` (``config_drift``'s answer) on the broker, leaving every other config
    of the topics as it is."""
    if not drift:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resources = [ConfigResource("topic", t, incremental_configs=[
        ConfigEntry(k, want, incremental_operation=AlterConfigOpType.SET) for k, (_, want) in diff.items()])
        for t, diff in drift.items()]  # fmt: skip
    for res, fut in admin.incremental_alter_configs(resources).items():
        try:
            fut.result(timeout=30)
        except KafkaException as e:
            raise RuntimeError(f"cannot set the declared configs of {res.name}: {e}") from e


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


def topic_ids(bootstrap: str, topics: list[str]) -> dict[str, str | None]:
    """Each topic's Kafka topic id (it changes when a topic is deleted and re-created); None when it does not
    exist."""
    from confluent_kafka import KafkaException, TopicCollection

    admin = AdminClient({"bootstrap.servers": bootstrap})
    out: dict[str, str | None] = {}
    for name, fut in admin.describe_topics(TopicCollection(topics)).items():
        try:
            out[name] = str(fut.result(timeout=30).topic_id)
        except KafkaException:
            out[name] = None
    return out
