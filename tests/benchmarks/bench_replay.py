"""Replay tool throughput on the real broker: dump (topic → Avro file) and load (file → topic, every row
validated against its contract), for multi-row messages as the ingest API writes them (500 rows) and for
single-row messages (the console tools' format)."""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Producer

from connectors.replay.dump import dump
from connectors.replay.load import load
from schemas.kafka import ensure_topics
from tests.support.kafka import delete_topics

EVENTS = 200_000


def _fill(bootstrap: str, topic: str, rows_per_message: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4",
                  "partitioner": "murmur2_random", "queue.buffering.max.messages": 500_000})  # fmt: skip
    for start in range(0, EVENTS, rows_per_message):
        rows = [json.dumps({"event_id": str(uuid.uuid4()), "event_time": 1_795_000_000_000 + i, "ingested_at": None,
                            "source": "bench", "schema_version": 1, "profile_id": str(i % 5000),
                            "platform": "instagram", "handle": f"h{i % 5000}", "followers": 10_000 + i,
                            "following": None, "posts_count": None, "category": "food", "language": "en",
                            "country": None}, separators=(",", ":"))
                for i in range(start, start + rows_per_message)]  # fmt: skip
        while True:
            try:
                p.produce(topic, key=str(start % 5000).encode(), value="\n".join(rows).encode())
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    assert p.flush(120) == 0


def test_replay_dump_and_load_throughput(stack, tmp_path, results):
    uid = uuid.uuid4().hex[:8]
    figures = {}
    for rows in (500, 1):
        src, dst = f"bench{uid}.r{rows}.social.profile.snapshot", f"bench{uid}.r{rows}.copy.social.profile.snapshot"
        ensure_topics(stack.bootstrap, [src, dst], 4)
        try:
            _fill(stack.bootstrap, src, rows)
            f = tmp_path / f"r{rows}.avro"
            d = dump(stack.bootstrap, src, f, 0, "now")
            ld = load(stack.bootstrap, f, dst, preserve_partitions=True)
            assert ld.rows == EVENTS and ld.invalid == 0
            figures[f"dump_events_per_s_{rows}_rows_per_message"] = EVENTS / d.seconds
            figures[f"load_events_per_s_{rows}_rows_per_message"] = EVENTS / ld.seconds
            figures[f"file_mb_{rows}_rows_per_message"] = f.stat().st_size / 1e6
        finally:
            delete_topics(stack.bootstrap, [src, dst])
    figures["events"] = EVENTS
    results.record("replay", figures)
    print(json.dumps(figures, indent=2))
