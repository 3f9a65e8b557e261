"""A deterministic creator workload for oracle tests: profile and post snapshots, scrape facts (as status
events and as scrape_requests CDC rows) and profile CDC rows, with duplicates, disorder and late events.

Each input record is ``(topic_name, key, row_dict)``; ``arrival`` lists them in the order they are produced
(per key, Kafka keeps that order). Lateness is relative to the newest event time seen for the same key.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

DAY = 86_400_000
HOUR = 3_600_000


@dataclass
class Workload:
    start_ms: int
    end_ms: int
    lateness_ms: int
    arrival: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def count(self, topic: str) -> int:
        return sum(1 for t, _, _ in self.arrival if t == topic)


def _env(rng: random.Random, t: int) -> dict[str, Any]:
    return {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "event_time": t, "ingested_at": None,
            "source": "workload", "schema_version": 1}  # fmt: skip


def generate(
    *,
    seed: int = 7,
    profiles: int = 200,
    days: int = 120,
    posts_per_profile: int = 25,
    end_ms: int = 1_790_000_000_000,
    lateness_ms: int = 2 * DAY,
    dup_rate: float = 0.05,
    late_inside_rate: float = 0.03,
    late_beyond_rate: float = 0.01,
    numeric_ids: bool = False,
    collections: int = 0,
    deletes: bool = False,
    discovery: bool = False,
    post_rows: bool = False,
) -> Workload:
    """``numeric_ids``: post and scrape request ids are integers as text (they become PostgreSQL rows).
    ``deletes``: some profiles, posts and collections are deleted in the OLTP database (Debezium ``op: "d"``
    rows, with the last image in ``before``), drawn from a random stream of their own (the rest of the workload
    stays the same). ``discovery``: what the discovery profile reads (``docs/discovery.md``) is added, from a
    random stream of its own too: profile attributes, post reach/impressions/saves, stories, audience readings
    and insights. ``post_rows``: each post's OLTP row (``cdc.public.posts``: short code, some numeric-only; type;
    publish time), from a random stream of its own."""
    rng = random.Random(seed)
    start = end_ms - days * DAY
    events: list[tuple[int, str, str, dict[str, Any]]] = []  # (arrival time, topic, key, row)
    lsn = [10_000_000]

    def add(topic: str, key: str, row: dict[str, Any], t: int) -> None:
        r = rng.random()
        if r < late_beyond_rate:
            delay = lateness_ms + rng.randint(HOUR, 3 * DAY)
        elif r < late_beyond_rate + late_inside_rate:
            delay = rng.randint(HOUR, max(lateness_ms - 6 * HOUR, HOUR + 1))
        else:
            delay = rng.randint(0, 3 * HOUR)  # ordinary disorder
        events.append((t + delay, topic, key, row))
        if rng.random() < dup_rate:
            events.append((t + delay + rng.randint(1, 2 * DAY), topic, key, dict(row)))

    platforms = ["instagram", "youtube"]
    categories = ["food", "music", "travel", "tech", None]
    languages = ["en", "es", "pt", None]
    for p in range(profiles):
        pid = str(1000 + p)
        platform = platforms[p % 2]
        followers = rng.randint(500, 2_000_000)
        growth = rng.uniform(-0.01, 0.03)
        for d in range(days):
            t = start + d * DAY + rng.randint(0, DAY - 1)
            followers = max(0, int(followers * (1 + growth + rng.uniform(-0.01, 0.01))))
            row = {**_env(rng, t), "profile_id": pid, "platform": platform, "handle": f"creator{p}",
                   "followers": followers, "following": rng.randint(0, 500), "posts_count": None,
                   "category": categories[p % 5], "language": languages[p % 4], "country": None}  # fmt: skip
            add("social.profile.snapshot", pid, row, t)
        for c in range(rng.randint(0, 3)):  # CDC rows of the profile (attributes edited in the OLTP database)
            lsn[0] += rng.randint(1, 1000)
            t = start + rng.randint(0, days * DAY - 1)
            image = {"id": int(pid), "handle": f"creator{p}", "category": rng.choice(categories[:-1]),
                     "language": rng.choice(languages[:-1])}  # fmt: skip
            row = {"before": None if c == 0 else image, "after": image, "op": "c" if c == 0 else "u",
                   "source": {"lsn": lsn[0], "ts_ms": t, "table": "profiles"}, "ts_ms": t}  # fmt: skip
            events.append((t, "cdc.profiles", pid, row))  # CDC arrives in commit order, never late
            if rng.random() < dup_rate:  # a connector restart re-delivers
                events.append((t + rng.randint(1, HOUR), "cdc.profiles", pid, dict(row)))
        for k in range(posts_per_profile):
            post_id = str(int(pid) * 100 + k) if numeric_ids else f"{pid}-{k}"
            published = start + rng.randint(0, days * DAY - 3 * DAY)
            post_type = rng.choice(["image", "carousel", "reel", "video", "short"])
            likes, comments = rng.randint(10, 5000), rng.randint(0, 300)
            views = rng.randint(100, 100_000) if post_type in ("reel", "video", "short") else None
            for s in range(rng.randint(1, 4)):
                t = published + s * rng.randint(HOUR, 3 * DAY)
                if t >= end_ms:
                    break
                likes += rng.randint(0, 500)
                comments += rng.randint(0, 40)
                row = {**_env(rng, t), "post_id": post_id, "profile_id": pid, "platform": platform,
                       "post_type": post_type, "published_at": published, "likes": likes, "comments": comments,
                       "views": views, "plays": None if views is None else views // 2}  # fmt: skip
                add("social.post.snapshot", post_id, row, t)
            t = published
            for r in range(rng.randint(0, 4)):  # scrape requests of the post
                t = min(t + rng.randint(HOUR, 10 * DAY), end_ms - HOUR)
                req = str(int(post_id) * 10 + r) if numeric_ids else f"req-{post_id}-{r}"
                flow = f"{platform}_post"
                status = rng.choice(["FAILED", "FAILED", "COMPLETE"])
                if rng.random() < 0.6:
                    row = {**_env(rng, t), "request_id": req, "post_id": post_id, "flow": flow, "status": status,
                           "attempt": 1, "error": "timeout" if status == "FAILED" else None}  # fmt: skip
                    add("social.scrape.status", post_id, row, t)
                if rng.random() < 0.6:  # the same fact seen through the scrape_requests CDC
                    lsn[0] += rng.randint(1, 1000)
                    iso = _iso(t)
                    after = {"id": req, "post_id": post_id, "flow": flow, "status": status, "attempt": 1,
                             "updated_at": iso}  # fmt: skip
                    row = {"before": None, "after": after, "op": "u", "source": {"lsn": lsn[0], "ts_ms": t,
                           "table": "scrape_requests"}, "ts_ms": t}  # fmt: skip
                    events.append((t + rng.randint(0, HOUR), "cdc.scrape_requests", post_id, row))
    # collections: posts added (and some removed) over time; CDC in commit order, one LSN sequence
    post_ids = [k for _, t, k, _ in events if t == "social.post.snapshot"]
    post_ids = sorted(set(post_ids))
    changes: list[tuple[int, str, str, str]] = []  # (commit time, collection, post, op)
    for c in range(collections):
        cid = str(90_000 + c)
        for post_id in rng.sample(post_ids, min(len(post_ids), rng.randint(0, 25))):
            t_add = start + rng.randint(0, days * DAY - 1)
            changes.append((t_add, cid, post_id, "c"))
            if rng.random() < 0.2:
                changes.append((min(t_add + rng.randint(HOUR, 20 * DAY), end_ms - 1), cid, post_id, "d"))
    changes.sort()
    for t, cid, post_id, op in changes:
        lsn[0] += rng.randint(1, 1000)
        image = {"collection_id": int(cid), "post_id": int(post_id) if numeric_ids else post_id, "added_at": _iso(t)}
        row = {"before": image if op == "d" else None, "after": None if op == "d" else image, "op": op,
               "source": {"lsn": lsn[0], "ts_ms": t, "table": "collection_items"}, "ts_ms": t}  # fmt: skip
        events.append((t, "cdc.collection_items", cid, row))
        if rng.random() < dup_rate:  # a connector restart re-delivers
            events.append((t + rng.randint(1, HOUR), "cdc.collection_items", cid, dict(row)))
    if post_rows:
        _add_post_rows(random.Random(seed + 3), events, lsn, numeric_ids, dup_rate)
    if deletes:
        _add_deletes(random.Random(seed + 1), events, lsn, end_ms, numeric_ids, dup_rate)
    if discovery:
        from tests.support.discovery_workload import add_discovery

        add_discovery(random.Random(seed + 2), events, start, end_ms, lateness_ms, dup_rate, numeric_ids)
    events.sort(key=lambda e: e[0])
    w = Workload(start, end_ms, lateness_ms)
    w.arrival = [(topic, key, row) for _, topic, key, row in events]
    return w


def _add_post_rows(rng: random.Random, events: list[tuple[int, str, str, dict[str, Any]]], lsn: list[int],
                   numeric_ids: bool, dup_rate: float) -> None:  # fmt: skip
    """A ``cdc.public.posts`` insert per post, when it was published; a fifth edited later (same values)."""
    posts: dict[str, dict[str, Any]] = {}
    for _, topic, key, row in events:
        if topic == "social.post.snapshot":
            posts.setdefault(key, row)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    for post_id in sorted(posts):
        snap = posts[post_id]
        digits = rng.random() < 0.15
        code = "".join(rng.choice("0123456789" if digits else alphabet) for _ in range(11))
        image = {"id": int(post_id) if numeric_ids else post_id, "profile_id": int(snap["profile_id"]),
                 "platform": snap["platform"], "shortcode": code, "post_type": snap["post_type"],
                 "published_at": _iso(snap["published_at"])}  # fmt: skip
        t = snap["published_at"]
        for op in ("c", "u") if rng.random() < 0.2 else ("c",):
            lsn[0] += rng.randint(1, 1000)
            row = {"before": None, "after": image, "op": op, "source": {"lsn": lsn[0], "ts_ms": t, "table": "posts"},
                   "ts_ms": t}  # fmt: skip
            events.append((t, "cdc.posts", post_id, row))
            if rng.random() < dup_rate:
                events.append((t + rng.randint(1, HOUR), "cdc.posts", post_id, dict(row)))
            t += rng.randint(HOUR, 5 * DAY)


def _add_deletes(rng: random.Random, events: list[tuple[int, str, str, dict[str, Any]]], lsn: list[int],
                 end_ms: int, numeric_ids: bool, dup_rate: float) -> None:  # fmt: skip
    """A profile in 6 deleted, a post in 8, a collection with items in 4 (``before`` holds the key, as with
    PostgreSQL's default replica identity); some deletes re-delivered; each at a random time of the last 20 days."""

    last_change: dict[tuple[str, str], int] = {}
    for t, topic, key, _ in events:
        if topic.startswith("cdc."):
            last_change[(topic, key)] = max(t, last_change.get((topic, key), 0))

    def delete(table: str, key: str, before: dict[str, Any]) -> None:
        lsn[0] += rng.randint(1, 1000) + 10_000_000  # after every other change of the row
        # committed after the row's other changes, so it arrives after them (CDC keeps commit order)
        t = max(end_ms - rng.randint(HOUR, 20 * DAY), last_change.get((f"cdc.{table}", key), 0) + 1)
        row = {"before": before, "after": None, "op": "d", "source": {"lsn": lsn[0], "ts_ms": t, "table": table},
               "ts_ms": t}  # fmt: skip
        events.append((t, f"cdc.{table}", key, row))
        if rng.random() < dup_rate * 4:
            events.append((t + rng.randint(1, HOUR), f"cdc.{table}", key, dict(row)))

    profiles = sorted({key for _, topic, key, _ in events if topic == "social.profile.snapshot"})
    for pid in profiles:
        if rng.random() < 1 / 6:
            delete("profiles", pid, {"id": int(pid)})
    posts = sorted({key for _, topic, key, _ in events if topic == "social.post.snapshot"})
    for post_id in posts:
        if rng.random() < 1 / 8:
            delete("posts", post_id, {"id": int(post_id) if numeric_ids else post_id})
    with_items = sorted({key for _, topic, key, _ in events if topic == "cdc.collection_items"})
    for cid in with_items:
        if rng.random() < 1 / 4:
            delete("collections", cid, {"id": int(cid)})


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
