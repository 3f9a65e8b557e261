"""Drive the agents' batch functions over a workload without Kafka (for fast oracle tests), and reduce
output rows the way a ReplacingMergeTree(version) does: the newest version per key wins."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from schemas.kafka import partition_for
from schemas.models import MODELS
from streams.agents import collections, memberships, posts, profiles
from streams.settings import StreamsSettings
from tests.support.workload import Workload

INPUT_NAMES = {"cdc.profiles": "cdc.public.profiles", "cdc.scrape_requests": "cdc.public.scrape_requests",
               "cdc.collection_items": "cdc.public.collection_items", "cdc.posts": "cdc.public.posts",
               "cdc.collections": "cdc.public.collections"}  # fmt: skip
POST_TOPICS = {posts.SNAPSHOTS, posts.SCRAPE_STATUS, posts.SCRAPE_CDC, posts.POSTS_CDC, posts.COLLECTED}
COLLECTION_TOPICS = {collections.ITEMS_CDC, collections.COLLECTIONS_CDC, collections.POST_BY_COLLECTION}
MEMBERSHIP_TOPICS = {memberships.POST_METRICS, memberships.MEMBERSHIP_BY_POST}
NO_AGENT = {"social.profile.audience", "social.profile.insight"}  # only the warehouse reads them
INTERNAL = {posts.BY_PROFILE, collections.MEMBERSHIP_BY_POST, memberships.POST_BY_COLLECTION}


def messages(w: Workload, partitions: int, max_rows: int) -> list[tuple[str, int, bytes]]:
    """The workload as Kafka messages, the way the ingest API writes producer batches: each run of
    ``max_rows`` events is grouped by topic and partition, order kept within each group (CDC: one change
    per message, as Debezium writes)."""
    out: list[tuple[str, int, bytes]] = []
    for i in range(0, len(w.arrival), max_rows):
        groups: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        for topic, key, row in w.arrival[i : i + max_rows]:
            if topic in NO_AGENT:
                continue
            name = INPUT_NAMES.get(topic, topic)
            line = json.dumps(row, separators=(",", ":")).encode()
            if name.startswith("cdc."):
                out.append((name, partition_for(key.encode(), partitions), line))
            else:
                groups[(name, partition_for(key.encode(), partitions))].append(line)
        out += [(n, p, b"\n".join(lines)) for (n, p), lines in groups.items()]
    return out


class Reduced:
    """Newest row per key by version. Two different rows with the newest version of a key are a conflict
    (ReplacingMergeTree would keep either); an intermediate version may repeat with other content after
    a restart re-processes topics in another interleaving, and is superseded anyway."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._clashes: list[tuple[str, str, int]] = []
        self.post_states: dict[str, Any] = {}

    def add(self, topic: str, key_field: str, line: bytes) -> None:
        row = json.loads(line)
        key = row[key_field]
        cur = self.rows[topic].get(key)
        if cur is None or row["version"] > cur["version"]:
            self.rows[topic][key] = row
        elif row["version"] == cur["version"] and row != cur:
            self._clashes.append((topic, key, row["version"]))

    @property
    def conflicts(self) -> list[tuple[str, str]]:
        return [(t, k) for t, k, v in self._clashes if self.rows[t][k]["version"] == v]


KEY_FIELDS = {
    "metrics.profile.rolling": "profile_id",
    "metrics.post.rolling": "post_id",
    "status.scrape.post": "post_id",
    "metrics.collection.rolling": "collection_id",
}


def interleave(msgs: list[tuple[str, int, bytes]], seed: int) -> list[tuple[str, int, bytes]]:
    """Another order a consumer may see: each topic-partition keeps its order, the queues merge at random."""
    import random

    queues: dict[tuple[str, int], list[tuple[str, int, bytes]]] = defaultdict(list)
    for m in msgs:
        queues[(m[0], m[1])].append(m)
    rng = random.Random(seed)
    pending = [q[::-1] for q in queues.values()]
    out = []
    while pending:
        q = rng.choice(pending)
        out.append(q.pop())
        if not q:
            pending.remove(q)
    return out


def agents_of(name: str) -> list[tuple[str, Any]]:
    """The agents that read topic ``name``, with their batch functions."""
    out: list[tuple[str, Any]] = []
    if name in POST_TOPICS:
        out.append(("posts", posts.handle))
    if name in COLLECTION_TOPICS:
        out.append(("collections", collections.handle))
    if name in MEMBERSHIP_TOPICS:
        out.append(("memberships", memberships.handle))
    return out or [("profiles", profiles.handle)]


def simulate(
    w: Workload, settings: StreamsSettings, now_ms: int, max_rows: int = 200, seed: int | None = None
) -> Reduced:
    states: dict[str, dict[str, Any]] = defaultdict(dict)  # agent -> key -> state
    queue: list[tuple[str, bytes]] = []  # topics the agents read back (internal + metrics.post.rolling)
    reduced = Reduced()

    def run(name: str, value: bytes) -> None:
        for agent, fn in agents_of(name):
            res = fn(name, value, states[agent].get, settings, now_ms)
            for out, rows in res.out.items():
                for _key, line in rows:
                    if out not in INTERNAL:
                        row = MODELS[out].model_validate_json(line)  # every output row honours its contract
                        assert list(json.loads(line)) == list(type(row).model_fields)
                        reduced.add(out, KEY_FIELDS[out], line)
                    if out in INTERNAL or out == "metrics.post.rolling":
                        queue.append((out, line))
            states[agent].update(res.states)

    msgs = messages(w, settings.partitions, max_rows)
    for name, _part, value in msgs if seed is None else interleave(msgs, seed):
        run(name, value)
        while queue:  # the agents read their internal topics as they fill
            run(*queue.pop(0))
    reduced.post_states = states["posts"]
    return reduced
