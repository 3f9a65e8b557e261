"""What the discovery profile, leaderboards and series read (``docs/discovery.md``), added to a generated
workload from a random stream of its own: profile attributes on every snapshot, reach/impressions/saves on post
snapshots, stories, audience readings and daily insights, with duplicates and disorder like the rest."""

from __future__ import annotations

import random
import uuid
from typing import Any

DAY = 86_400_000
HOUR = 3_600_000
COUNTRIES = ["US", "BR", "IN", "ES", "MX", "DE", "FR"]
CITIES = ["Sao Paulo", "Mumbai", "Madrid", "Austin", "Lagos", "Delhi", "Lima"]
Events = list[tuple[int, str, str, dict[str, Any]]]  # (arrival time, topic, key, row)


def _env(rng: random.Random, t: int) -> dict[str, Any]:
    return {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "event_time": t, "ingested_at": None,
            "source": "workload", "schema_version": 1}  # fmt: skip


def _shares(rng: random.Random, labels: list[str]) -> dict[str, float]:
    weights = [rng.randint(1, 50) for _ in labels]
    total = sum(weights)
    return {label: round(w * 100 / total, 2) for label, w in zip(labels, weights, strict=True)}


def add_discovery(rng: random.Random, events: Events, start: int, end_ms: int, lateness_ms: int, dup_rate: float,
                  numeric_ids: bool) -> None:  # fmt: skip
    def add(topic: str, key: str, row: dict[str, Any], t: int) -> None:
        delay = rng.randint(0, 3 * HOUR) if rng.random() > 0.03 else rng.randint(HOUR, max(lateness_ms // 2, HOUR))
        events.append((t + delay, topic, key, row))
        if rng.random() < dup_rate:
            events.append((t + delay + rng.randint(1, 2 * DAY), topic, key, dict(row)))

    countries = ["US", "BR", "IN", "ES", None]
    types = ["creator", "business", "personal", None]
    profiles: dict[str, dict[str, Any]] = {}
    for _, topic, _key, row in events:  # every copy of a row gets the same values (they derive from the row)
        if topic == "social.profile.snapshot":
            pid = row["profile_id"]
            if pid not in profiles:
                n = int(pid)
                profiles[pid] = {"platform": row["platform"], "country": countries[n % 5], "posts": rng.randint(5, 900),
                                 "full_name": None if n % 9 == 0 else f"Creator {n} {rng.choice(['Lee', 'Silva'])}",
                                 "is_verified": n % 7 == 0, "is_business": None if n % 11 == 0 else n % 3 == 0,
                                 "profile_type": types[n % 4]}  # fmt: skip
            a = profiles[pid]
            row.update({"country": a["country"], "full_name": a["full_name"], "is_verified": a["is_verified"],
                        "is_business": a["is_business"], "profile_type": a["profile_type"],
                        "posts_count": a["posts"] + (row["event_time"] - start) // (3 * DAY)})  # fmt: skip
        elif topic == "social.post.snapshot" and "reach" not in row:
            seed = int.from_bytes(row["post_id"].encode()[-4:], "big")
            base = 1000 + seed % 50_000
            row.update({"reach": base + row["likes"] * 3, "impressions": base * 2 + row["likes"] * 5,
                        "saves": row["likes"] // 20})  # fmt: skip
            if row["post_type"] == "image" and seed % 5 == 0:
                row.update({"reach": None, "impressions": None, "saves": None})  # the platform gave none
    for pid, a in sorted(profiles.items()):
        for k in range(rng.randint(0, 6)):  # stories: a day of counters each
            post_id = str(int(pid) * 100 + 90 + k) if numeric_ids else f"{pid}-s{k}"
            published = start + rng.randint(0, (end_ms - start) - 2 * DAY)
            likes = rng.randint(0, 400)
            for s in range(rng.randint(1, 2)):
                t = published + s * rng.randint(HOUR, 20 * HOUR)
                likes += rng.randint(0, 50)
                reach = None if k % 4 == 3 else rng.randint(100, 80_000)
                row = {**_env(rng, t), "post_id": post_id, "profile_id": pid, "platform": a["platform"],
                       "post_type": "story", "published_at": published, "likes": likes,
                       "comments": rng.randint(0, 20), "views": None, "plays": None, "reach": reach,
                       "impressions": None if reach is None else reach + rng.randint(0, 5000),
                       "saves": None}  # fmt: skip
                add("social.post.snapshot", post_id, row, t)
        for _ in range(rng.randint(0, 3)):  # audience readings
            t = start + rng.randint(0, end_ms - start - HOUR)
            female = rng.choice([50.0, round(rng.uniform(10, 90), 2)])
            row = {**_env(rng, t), "profile_id": pid, "platform": a["platform"],
                   "gender": {"female": female, "male": round(100 - female - (0 if female == 50.0 else 1), 2),
                              **({} if female == 50.0 else {"other": 1.0})},
                   "age": _shares(rng, ["13-17", "18-24", "25-34", "35-44", "45+"]),
                   "countries": _shares(rng, rng.sample(COUNTRIES, 3 + int(pid) % 5)),  # more than the top 5
                   "cities": _shares(rng, rng.sample(CITIES, 2 + int(pid) % 6)),
                   "languages": _shares(rng, ["en", "pt"]),
                   "authenticity": None if rng.random() < 0.1 else round(rng.uniform(40, 99), 2),
                   "reachability": None if rng.random() < 0.1 else round(rng.uniform(5, 80), 2)}  # fmt: skip
            add("social.profile.audience", pid, row, t)
        last_day = (end_ms - DAY) // DAY * DAY
        for d in sorted(rng.sample(range(20), rng.randint(0, 4))):  # insights of a few recent days
            day = last_day - d * DAY
            for content in rng.sample(["reel", "image", "story", "video"], 2):
                for _ in range(rng.randint(1, 2)):  # a later reading of the same day corrects the first
                    t = min(day + DAY + rng.randint(0, 2 * DAY), end_ms - 1)
                    row = {**_env(rng, t), "profile_id": pid, "platform": a["platform"], "day": day,
                           "content_type": content, "reach": rng.randint(0, 90_000),
                           "impressions": rng.randint(0, 150_000)}  # fmt: skip
                    add("social.profile.insight", pid, row, t)
    _add_recent_readings(rng, events, end_ms, add)


def _add_recent_readings(rng: random.Random, events: Events, end_ms: int, add: Any) -> None:
    """Readings of the last day and a half for a quarter of the posts (what the trending windows compare)."""
    last: dict[str, dict[str, Any]] = {}
    for _, topic, _key, row in events:
        if topic == "social.post.snapshot" and row["post_type"] != "story":
            seen = last.get(row["post_id"])
            if seen is None or row["event_time"] > seen["event_time"]:
                last[row["post_id"]] = row
    for post_id, row in sorted(last.items()):
        if rng.random() >= 0.25:
            continue
        likes, comments, t = row["likes"], row["comments"], row["event_time"]
        for _ in range(rng.randint(1, 3)):
            t = max(t + 1, end_ms - rng.randint(HOUR, 36 * HOUR))
            if t >= end_ms - HOUR:
                break
            likes, comments = likes + rng.randint(0, 800), comments + rng.randint(0, 60)
            add("social.post.snapshot", post_id, {**row, **_env(rng, t), "likes": likes, "comments": comments}, t)
