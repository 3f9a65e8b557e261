"""The creator workload: profiles, posts, collections and scrape requests written to PostgreSQL (Debezium
streams them), and profile snapshots, post snapshots (stories too), scrape status events, audience readings and
insights posted to the ingest API."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import Progress, TaskID

from deploy.local.demo.common import DAY, HOUR, DemoSize, dt, next_id, progress

CATEGORIES = ["food", "music", "travel", "tech", "fashion", "fitness", "gaming"]
LANGUAGES = ["en", "es", "pt", "de", "fr"]
COUNTRIES = ["US", "BR", "IN", "ES", "DE", "GB"]
NAMES = ["Ada", "Bruno", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jonas"]

INSERT_PROFILE = (
    "INSERT INTO profiles (id, platform, handle, category, language, followers) VALUES (%s, %s, %s, %s, %s, %s)"
)
INSERT_POST = (
    "INSERT INTO posts (id, profile_id, platform, shortcode, post_type, published_at) VALUES (%s, %s, %s, %s, %s, %s)"
)
INSERT_COLLECTION = "INSERT INTO collections (id, name, owner_id) VALUES (%s, %s, %s)"
INSERT_COLLECTION_ITEM = "INSERT INTO collection_items (collection_id, post_id) VALUES (%s, %s)"
INSERT_SCRAPE_REQUEST = (
    "INSERT INTO scrape_requests (id, post_id, flow, status, attempt, error, updated_at) "
    "VALUES (%s, %s, %s, %s, 1, %s, %s)"
)

Conn = psycopg.Connection[Any]


def play_workload(dsn: str, ingest_url: str, token: str, size: DemoSize, console: Console) -> dict[str, int]:
    """PostgreSQL writes and ingest API events of ``size.profiles`` creators over ``size.days`` days."""
    from connectors.ingest_client import IngestClient

    rng = random.Random(size.seed + int(time.time()))
    now = int(time.time() * 1000)
    counts = {"postgres_rows": 0, "api_events": 0}
    with psycopg.connect(dsn, autocommit=True) as conn:
        first_profile, first_post = next_id(conn, "profiles"), next_id(conn, "posts")
        profiles = _creators(rng, first_profile, size.profiles)
        with progress(console) as bar:
            task = bar.add_task("PostgreSQL: profiles and posts", total=size.profiles)
            with conn.transaction():
                posts = _write_profiles(conn, rng, profiles, first_post, size, now, bar, task)
                counts["postgres_rows"] += len(profiles) * (1 + size.posts_per_profile)
                counts["postgres_rows"] += _write_collections(conn, rng, posts, size.collections)
        with IngestClient(ingest_url, token, source="demo", batch_size=2000) as client, progress(console) as bar:
            task = bar.add_task("ingest API: profile snapshots", total=len(profiles))
            for p in profiles:
                _send_profile_snapshots(client, rng, p, size.days, now)
                _send_audience_and_insights(client, rng, p, now)
                bar.advance(task)
            task = bar.add_task("ingest API + PostgreSQL: posts, scrapes", total=len(posts))
            request_id = next_id(conn, "scrape_requests")
            for post in posts:
                written = _play_scrapes(conn, client, rng, post, request_id, now)
                request_id += written
                counts["postgres_rows"] += written
                bar.advance(task)
        counts["api_events"] = client.stats.accepted
        if client.stats.rejected:
            console.print(f"[yellow]{len(client.stats.rejected)} events rejected by the API[/]")
    return counts


def _creators(rng: random.Random, first_id: int, n: int) -> list[dict[str, Any]]:
    """``n`` creators with ids from ``first_id``: two in three on Instagram, followers log-uniform."""
    out = []
    for i in range(n):
        pid = first_id + i
        platform = "instagram" if i % 3 else "youtube"
        followers = int(math.exp(rng.uniform(math.log(800), math.log(3_000_000))))
        out.append({"id": pid, "platform": platform, "handle": f"creator_{pid}", "followers": followers,
                    "category": rng.choice(CATEGORIES), "language": rng.choice(LANGUAGES),
                    "growth": rng.uniform(-0.003, 0.02), "country": rng.choice(COUNTRIES),
                    "full_name": f"{rng.choice(NAMES)} {rng.choice(NAMES)}son", "verified": rng.random() < 0.2,
                    "business": rng.random() < 0.3, "type": rng.choice(["creator", "business", "personal"]),
                    "posts": rng.randint(20, 2000)})  # fmt: skip
    return out


def _write_profiles(conn: Conn, rng: random.Random, profiles: list[dict[str, Any]], first_post: int,
                    size: DemoSize, now: int, bar: Progress, task: TaskID) -> list[dict[str, Any]]:  # fmt: skip
    """Each profile and its ``size.posts_per_profile`` posts (published over the last ``size.days`` days)."""
    posts: list[dict[str, Any]] = []
    for p in profiles:
        conn.execute(INSERT_PROFILE, (p["id"], p["platform"], p["handle"], p["category"], p["language"],
                                      p["followers"]))  # fmt: skip
        for k in range(size.posts_per_profile):
            post_id = first_post + len(posts)
            published = now - rng.randint(1, size.days * DAY)
            kinds = ["image", "carousel", "reel", "story"] if p["platform"] == "instagram" else ["video", "short"]
            kind = rng.choice(kinds)
            posts.append({"id": post_id, "profile": p, "type": kind, "published": published, "k": k})
            conn.execute(INSERT_POST, (post_id, p["id"], p["platform"], f"sc{post_id}", kind, dt(published)))
        bar.advance(task)
    return posts


def _write_collections(conn: Conn, rng: random.Random, posts: list[dict[str, Any]], n: int) -> int:
    """``n`` collections of 5 to 40 of ``posts``; returns the rows written."""
    rows = 0
    first = next_id(conn, "collections")
    for c in range(n):
        cid = first + c
        name, owner = f"{rng.choice(CATEGORIES)} picks #{cid}", f"user{rng.randint(1, 50)}"
        conn.execute(INSERT_COLLECTION, (cid, name, owner))
        members = rng.sample(posts, min(len(posts), rng.randint(5, 40)))
        for post in members:
            conn.execute(INSERT_COLLECTION_ITEM, (cid, post["id"]))
        rows += 1 + len(members)
    return rows


def _send_profile_snapshots(client: Any, rng: random.Random, p: dict[str, Any], days: int, now: int) -> None:
    """One snapshot a day for ``days`` days up to today, followers growing at the creator's rate."""
    followers = p["followers"]
    for d in range(days, -1, -1):
        followers = max(0, int(followers * (1 + p["growth"] + rng.uniform(-0.004, 0.004))))
        t = now - d * DAY - rng.randint(0, HOUR)
        client.send("social.profile.snapshot", {
            "event_time": t, "profile_id": str(p["id"]), "platform": p["platform"], "handle": p["handle"],
            "followers": followers, "following": rng.randint(10, 900), "posts_count": p["posts"] + (days - d) // 3,
            "category": p["category"], "language": p["language"], "country": p["country"],
            "full_name": p["full_name"], "is_verified": p["verified"], "is_business": p["business"],
            "profile_type": p["type"]})  # fmt: skip


def _send_audience_and_insights(client: Any, rng: random.Random, p: dict[str, Any], now: int) -> None:
    """An audience reading, and the last week's reach and impressions per content type."""
    female = round(rng.uniform(20, 80), 1)
    countries = rng.sample(COUNTRIES, 3)
    client.send("social.profile.audience", {
        "event_time": now - rng.randint(HOUR, 3 * DAY), "profile_id": str(p["id"]), "platform": p["platform"],
        "gender": {"female": female, "male": round(99 - female, 1), "other": 1.0},
        "age": {"13-17": 8.0, "18-24": 31.0, "25-34": 38.0, "35-44": 15.0, "45+": 8.0},
        "countries": {countries[0]: 45.0, countries[1]: 20.0, countries[2]: 10.0},
        "cities": {"Sao Paulo": 6.5, "London": 4.0}, "languages": {p["language"]: 70.0, "en": 20.0},
        "authenticity": round(rng.uniform(55, 98), 1), "reachability": round(rng.uniform(10, 70), 1)})  # fmt: skip
    today = now // DAY * DAY
    types = ["reel", "image", "story"] if p["platform"] == "instagram" else ["video"]
    for d in range(1, 8):
        for content in types:
            reach = int(p["followers"] * rng.uniform(0.02, 0.4))
            client.send("social.profile.insight", {
                "event_time": today - d * DAY + DAY + rng.randint(0, HOUR), "profile_id": str(p["id"]),
                "platform": p["platform"], "day": today - d * DAY, "content_type": content, "reach": reach,
                "impressions": int(reach * rng.uniform(1.1, 2.5))})  # fmt: skip


def _play_scrapes(conn: Conn, client: Any, rng: random.Random, post: dict[str, Any], first_request: int,
                  now: int) -> int:  # fmt: skip
    """Scrape requests of one post every 6 to 96 hours from its publication until now (15% fail): each a
    PostgreSQL row and RUNNING + final status events; each success a post snapshot with grown counters.
    Returns the requests written."""
    p = post["profile"]
    reach = max(p["followers"], 1000)
    likes = int(reach * rng.uniform(0.005, 0.06))
    comments = int(likes * rng.uniform(0.01, 0.08))
    video = post["type"] in ("reel", "video", "short")
    views = int(reach * rng.uniform(0.1, 1.5)) if video else None
    seen = rng.uniform(0.05, 0.6)  # the share of the followers a post reaches
    flow = f"{p['platform']}_post"
    request_id = first_request
    t = post["published"]
    while t < now:
        failed = rng.random() < 0.15
        status = "FAILED" if failed else "COMPLETE"
        conn.execute(INSERT_SCRAPE_REQUEST, (request_id, post["id"], flow, status, "timeout" if failed else None,
                                             dt(t)))  # fmt: skip
        for st in ("RUNNING", status):
            client.send("social.scrape.status", {
                "event_time": t, "request_id": str(request_id), "post_id": str(post["id"]), "flow": flow,
                "status": st, "attempt": 1, "error": "timeout" if st == "FAILED" else None})  # fmt: skip
        if not failed:
            seen = min(1.5, seen * rng.uniform(1.0, 1.3))
            likes += int(likes * rng.uniform(0.05, 0.4))
            comments += int(comments * rng.uniform(0.02, 0.3))
            views = None if views is None else views + int(views * rng.uniform(0.05, 0.5))
            client.send("social.post.snapshot", {
                "event_time": t, "post_id": str(post["id"]), "profile_id": str(p["id"]),
                "platform": p["platform"], "post_type": post["type"], "published_at": post["published"],
                "likes": likes, "comments": comments, "views": views,
                "plays": None if views is None else int(views * 0.6), "reach": int(reach * seen),
                "impressions": int(reach * seen * 1.6), "saves": likes // 25})  # fmt: skip
        request_id += 1
        t += rng.randint(6, 96) * HOUR
    return request_id - first_request
