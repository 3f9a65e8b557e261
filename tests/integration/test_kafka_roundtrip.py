"""A confluent-kafka produce/consume round trip on the real broker."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from tests.support.kafka import consume, create_topic, delete_topics

pytestmark = pytest.mark.integration


def test_produce_consume_round_trip(stack, uid):
    topic = f"test.roundtrip.{uid}"
    create_topic(stack.bootstrap, topic, partitions=3)
    producer = Producer({"bootstrap.servers": stack.bootstrap, "partitioner": "murmur2_random", "acks": "all"})
    sent = {}
    for i in range(300):
        key = f"profile-{i % 17}"
        value = f'{{"n": {i}, "key": "{key}"}}'.encode()
        producer.produce(topic, key=key.encode(), value=value, headers={"h": str(i).encode()})
        sent[i] = (key, value)
    assert producer.flush(30) == 0

    got = consume(stack.bootstrap, topic, f"g-{uid}", count=300)
    try:
        assert len(got) == 300
        by_n = {int(m.headers()[0][1]): m for m in got}
        assert sorted(by_n) == list(range(300))
        for n, (key, value) in sent.items():
            assert by_n[n].key() == key.encode()
            assert by_n[n].value() == value
        # one key -> one partition, and per-key order preserved
        partitions: dict[bytes, set[int]] = {}
        last_n: dict[bytes, int] = {}
        for m in sorted(got, key=lambda m: (m.partition(), m.offset())):
            partitions.setdefault(m.key(), set()).add(m.partition())
            n = int(m.headers()[0][1])
            assert n > last_n.get(m.key(), -1)
            last_n[m.key()] = n
        assert all(len(p) == 1 for p in partitions.values())
        assert len({p for ps in partitions.values() for p in ps}) > 1  # keys spread across partitions
    finally:
        delete_topics(stack.bootstrap, [topic])
