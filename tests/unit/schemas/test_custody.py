"""The custody hops derived from the declared topics, and the CDC source position read from Debezium's offsets."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.health import source_position
from schemas.custody import hops
from schemas.settings import CoreSettings
from schemas.topics import AGENTS, TOPICS, Topology


def test_hops_enter_from_outside_follow_the_agents_chains_and_end_in_the_warehouse():
    got = hops(Topology(CoreSettings(topic_prefix="p.")), "worker", "wh")
    first, chained, last = got[0], got[1:-1], got[-1]
    agent_written = {f"p.{t.name}" for t in TOPICS if set(t.writers) & set(AGENTS)}
    assert first.readers[0][0] == "worker" and "p.cdc.public.profiles" in first.topics
    assert not set(first.topics) & agent_written  # what agents write for each other is a later hop
    assert chained and all(h.readers[0][0] == "worker" and "p.metrics.post.rolling" in h.topics for h in chained)
    assert last.readers[0][0] == "wh" and "p.metrics.profile.rolling" in last.topics
    # every topic an agent reads is in some worker hop; every topic the warehouse reads in the last
    assert {f"p.{t.name}" for t in TOPICS if set(t.readers) & set(AGENTS)} <= {x for h in got[:-1] for x in h.topics}

    # the Kafka engine: one group per source table, the hop waits for each on its own topics
    per_table = hops(Topology(CoreSettings(topic_prefix="p.")), "worker", [("wh.a", ["p.x"]), ("wh.b", ["p.x", "p.y"])])
    assert per_table[-1].readers == (("wh.a", ("p.x",)), ("wh.b", ("p.x", "p.y")))
    assert per_table[-1].topics == ("p.x", "p.y") and per_table[:-1] == got[:-1]


def test_the_source_position_is_the_commit_lsn_and_time_of_debeziums_offset():
    offsets = [{"partition": {"server": "p.cdc"}, "offset": {"lsn_proc": 900, "lsn_commit": 800, "lsn": 900,
                                                             "txId": 7, "ts_usec": 1_795_000_000_123_456}}]  # fmt: skip
    got = source_position(offsets)
    assert got is not None and got.lsn == 800
    assert got.commit_time == datetime.fromtimestamp(1_795_000_000.123456, UTC)
    assert source_position([]) is None
    snapshotting = {"lsn": 900, "txId": 7, "ts_usec": 1_795_000_000_123_456, "snapshot": True,
                    "last_snapshot_record": False}  # fmt: skip
    assert source_position([{"partition": {}, "offset": snapshotting}]) is None  # not in Kafka yet
    assert source_position([{"partition": {}, "offset": {"lsn": 900, "ts_usec": 1}}]) is None  # no commit streamed
    assert source_position([{"partition": {}, "offset": {"lsn": "x"}}]) is None
