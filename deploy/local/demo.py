"""``make demo``: the main job end to end on the embedded warehouse.

Starts what is missing (PostgreSQL, Kafka, Connect + Debezium, the warehouse, the Faust worker, the ingest API,
the loader), applies migrations, registers the CDC connector, then plays a realistic creator workload: profiles,
posts and scrape requests written to PostgreSQL, and profile/post snapshots and scrape status events posted
over the ingest API. It waits until every stage has caught up, measures freshness with probe commits
(PostgreSQL commit → ClickHouse row → serving table), and prints a summary with the top-10 leaderboard read
from the PostgreSQL serving table. Entity ids continue after the largest existing one, so runs accumulate.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clickhouse_ddl.runner import all_sources
from deploy.local.demo_domains import HIRING_CDC_TOPICS, play_activity, play_hiring, print_domains
from deploy.local.kafka_progress import end_offsets, group_lag
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from deploy.local.settings import StackSettings

DAY = 86_400_000
CDC_TOPICS = [f"cdc.public.{t}" for t in ("profiles", "posts", "scrape_requests", "collections", "collection_items")]
CDC_TOPICS += HIRING_CDC_TOPICS
CATEGORIES = ["food", "music", "travel", "tech", "fashion", "fitness", "gaming"]
LANGUAGES = ["en", "es", "pt", "de", "fr"]


@dataclass
class DemoSize:
    profiles: int = 300
    days: int = 60
    posts_per_profile: int = 12
    collections: int = 40
    probes: int = 20
    seed: int = 2026


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    to_clickhouse_ms: list[float] = field(default_factory=list)
    to_serving_ms: list[float] = field(default_factory=list)
    top10: list[tuple[Any, ...]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)  # fmt: skip


def _iso(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def play_workload(dsn: str, ingest_url: str, token: str, size: DemoSize, console: Console) -> dict[str, int]:
    """PostgreSQL writes and ingest API events of ``size.profiles`` creators over ``size.days`` days."""
    from connectors.ingest_client import IngestClient

    rng = random.Random(size.seed + int(time.time()))
    now = int(time.time() * 1000)
    counts = {"postgres_rows": 0, "api_events": 0}
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM profiles").fetchone()
        base = int(row[0]) if row else 0
        prow = conn.execute("SELECT coalesce(max(id), 0) FROM posts").fetchone()
        post_base = int(prow[0]) if prow else 0
        profiles: list[dict[str, Any]] = []
        for i in range(size.profiles):
            pid = base + 1 + i
            platform = "instagram" if i % 3 else "youtube"
            followers = int(math.exp(rng.uniform(math.log(800), math.log(3_000_000))))
            profiles.append({"id": pid, "platform": platform, "handle": f"creator_{pid}", "followers": followers,
                             "category": rng.choice(CATEGORIES), "language": rng.choice(LANGUAGES),
                             "growth": rng.uniform(-0.003, 0.02)})  # fmt: skip
        with _progress(console) as progress:
            task = progress.add_task("PostgreSQL: profiles and posts", total=size.profiles)
            posts: list[dict[str, Any]] = []
            with conn.transaction():
                for p in profiles:
                    conn.execute(
                        "INSERT INTO profiles (id, platform, handle, category, language, followers) "
                        "VALUES (%s, %s, %s, %s, %s, %s)",
                        (p["id"], p["platform"], p["handle"], p["category"], p["language"], p["followers"]),
                    )
                    for k in range(size.posts_per_profile):
                        post_id = post_base + len(posts) + 1
                        published = now - rng.randint(1, size.days * DAY)
                        kind = rng.choice(["image", "carousel", "reel"] if p["platform"] == "instagram"
                                          else ["video", "short"])  # fmt: skip
                        posts.append({"id": post_id, "profile": p, "type": kind, "published": published, "k": k})
                        conn.execute(
                            "INSERT INTO posts (id, profile_id, platform, shortcode, post_type, published_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s)",
                            (post_id, p["id"], p["platform"], f"sc{post_id}", kind, _iso(published)),
                        )
                    counts["postgres_rows"] += 1 + size.posts_per_profile
                    progress.advance(task)
                crow = conn.execute("SELECT coalesce(max(id), 0) FROM collections").fetchone()
                for c in range(size.collections):
                    cid = (int(crow[0]) if crow else 0) + 1 + c
                    name, owner = f"{rng.choice(CATEGORIES)} picks #{cid}", f"user{rng.randint(1, 50)}"
                    conn.execute("INSERT INTO collections (id, name, owner_id) VALUES (%s, %s, %s)", (cid, name, owner))
                    members = rng.sample(posts, min(len(posts), rng.randint(5, 40)))
                    for post in members:
                        conn.execute("INSERT INTO collection_items (collection_id, post_id) VALUES (%s, %s)",
                                     (cid, post["id"]))  # fmt: skip
                    counts["postgres_rows"] += 1 + len(members)
        with IngestClient(ingest_url, token, source="demo", batch_size=2000) as client, _progress(console) as progress:
            task = progress.add_task("ingest API: profile snapshots", total=len(profiles))
            for p in profiles:
                followers = p["followers"]
                for d in range(size.days, -1, -1):
                    followers = max(0, int(followers * (1 + p["growth"] + rng.uniform(-0.004, 0.004))))
                    t = now - d * DAY - rng.randint(0, 3_600_000)
                    client.send("social.profile.snapshot", {
                        "event_time": t, "profile_id": str(p["id"]), "platform": p["platform"], "handle": p["handle"],
                        "followers": followers, "following": rng.randint(10, 900), "posts_count": None,
                        "category": p["category"], "language": p["language"], "country": None})  # fmt: skip
                progress.advance(task)
            task = progress.add_task("ingest API + PostgreSQL: posts, scrapes", total=len(posts))
            req_row = conn.execute("SELECT coalesce(max(id), 0) FROM scrape_requests").fetchone()
            req_id = int(req_row[0]) if req_row else 0
            for post in posts:
                p = post["profile"]
                reach = max(p["followers"], 1000)
                likes = int(reach * rng.uniform(0.005, 0.06))
                comments = int(likes * rng.uniform(0.01, 0.08))
                video = post["type"] in ("reel", "video", "short")
                views = int(reach * rng.uniform(0.1, 1.5)) if video else None
                t = post["published"]
                flow = f"{p['platform']}_post"
                while t < now:
                    req_id += 1
                    failed = rng.random() < 0.15
                    status = "FAILED" if failed else "COMPLETE"
                    conn.execute(
                        "INSERT INTO scrape_requests (id, post_id, flow, status, attempt, error, updated_at) "
                        "VALUES (%s, %s, %s, %s, 1, %s, %s)",
                        (req_id, post["id"], flow, status, "timeout" if failed else None, _iso(t)),
                    )
                    counts["postgres_rows"] += 1
                    for st in ("RUNNING", status):
                        client.send("social.scrape.status", {
                            "event_time": t, "request_id": str(req_id), "post_id": str(post["id"]), "flow": flow,
                            "status": st, "attempt": 1, "error": "timeout" if st == "FAILED" else None})  # fmt: skip
                    if not failed:
                        likes += int(likes * rng.uniform(0.05, 0.4))
                        comments += int(comments * rng.uniform(0.02, 0.3))
                        views = None if views is None else views + int(views * rng.uniform(0.05, 0.5))
                        client.send("social.post.snapshot", {
                            "event_time": t, "post_id": str(post["id"]), "profile_id": str(p["id"]),
                            "platform": p["platform"], "post_type": post["type"], "published_at": post["published"],
                            "likes": likes, "comments": comments, "views": views,
                            "plays": None if views is None else int(views * 0.6)})  # fmt: skip
                    t += rng.randint(6, 96) * 3_600_000
                progress.advance(task)
        counts["api_events"] = client.stats.accepted
        if client.stats.rejected:
            console.print(f"[yellow]{len(client.stats.rejected)} events rejected by the API[/]")
    return counts


def play_domains(dsn: str, ingest_url: str, token: str, size: DemoSize, console: Console) -> dict[str, int]:
    """The hiring (PostgreSQL) and user-activity (ingest API) workloads."""
    from connectors.ingest_client import IngestClient

    rng = random.Random(size.seed + 1 + int(time.time()))
    with _progress(console) as progress:
        task = progress.add_task("hiring: PostgreSQL rows", total=1)
        hiring_rows = play_hiring(dsn, rng)
        progress.advance(task)
        task = progress.add_task("user activity: ingest API events", total=1)
        with IngestClient(ingest_url, token, source="demo", batch_size=1000) as client:
            play_activity(client, rng)
        progress.advance(task)
    return {"hiring_rows": hiring_rows, "activity_events": client.stats.accepted}


def wait_for_pipeline(stack: StackSettings, pipeline: Pipeline, cdc_before: int, cdc_rows: int, dsn: str,
                      console: Console) -> None:  # fmt: skip
    """CDC rows in Kafka, then the worker, then the bridge caught up, then one loader pass after that."""
    prefix = pipeline.env.get("STIR_STREAMS_TOPIC_PREFIX", "")
    from streams.app import inputs as stream_inputs
    from streams.settings import StreamsSettings

    cdc_topics = [prefix + t for t in CDC_TOPICS]
    inputs = stream_inputs(StreamsSettings(topic_prefix=prefix))
    sources = [prefix + s.topic for s in all_sources()]
    steps: list[tuple[str, Callable[[], bool]]] = [
        ("Debezium: CDC rows in Kafka", lambda: end_offsets(stack.bootstrap, cdc_topics) - cdc_before >= cdc_rows),
        ("Faust worker: input lag 0", lambda: group_lag(stack.bootstrap, "stir-streams", inputs) == 0),
        ("warehouse bridge: lag 0", lambda: group_lag(stack.bootstrap, "stir-warehouse.bridge", sources) == 0),
    ]
    with _progress(console) as progress:
        for name, done in steps:
            task = progress.add_task(name, total=1)
            if not wait_until(done, 600, 0.5):
                raise RuntimeError(f"timed out waiting for: {name}")
            progress.advance(task)
        task = progress.add_task("loader: serving tables refreshed", total=1)
        mark = datetime.now(UTC)

        def loaded() -> bool:
            with psycopg.connect(dsn) as conn:
                rows = conn.execute("SELECT DISTINCT spec FROM serving.stir_load_runs WHERE outcome = 'swapped' "
                                    "AND started_at > %s", (mark,)).fetchall()  # fmt: skip
            wanted = {
                "profile_summary",
                "leaderboard_monthly",
                "hiring_processes",
                "tenant_activity",
                "account_security",
            }
            return wanted <= {r[0] for r in rows}

        if not wait_until(loaded, 300, 0.5):
            raise RuntimeError("timed out waiting for the loader")
        progress.advance(task)


def freshness_probes(dsn: str, ch: Any, probes: int, console: Console) -> tuple[list[float], list[float]]:
    """Commit ``UPDATE profiles SET updated_at = now()`` on demo profiles; the profile agent turns each CDC row
    into a new ``metrics.profile.rolling`` version. Time until that version is in ClickHouse, and in the
    serving table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [str(r[0]) for r in conn.execute(
            "SELECT profile_id FROM serving.profile_summary ORDER BY profile_id DESC LIMIT %s", (probes,))]  # fmt: skip
        pending: dict[str, tuple[int, float]] = {}
        for pid in ids:
            before = ch.query(f"SELECT max(version) FROM profile_rolling WHERE profile_id = '{pid}'").result_rows[0][0]
            conn.execute("UPDATE profiles SET updated_at = now() WHERE id = %s", (int(pid),))
            pending[pid] = (int(before), time.monotonic())
        to_ch: dict[str, float] = {}
        to_serving: dict[str, float] = {}
        deadline = time.monotonic() + 120
        with _progress(console) as progress:
            task = progress.add_task("freshness probes", total=2 * len(ids))
            while (len(to_ch) < len(ids) or len(to_serving) < len(ids)) and time.monotonic() < deadline:
                now = time.monotonic()
                waiting = [p for p in ids if p not in to_ch]
                if waiting:
                    in_list = ",".join(f"'{p}'" for p in waiting)
                    q = f"SELECT profile_id, max(version) FROM profile_rolling WHERE profile_id IN ({in_list}) "
                    q += " GROUP BY profile_id"
                    for pid, v in ch.query(q).result_rows:
                        if v > pending[pid][0]:
                            to_ch[pid] = (now - pending[pid][1]) * 1000
                            progress.advance(task)
                waiting = [p for p in ids if p not in to_serving]
                if waiting:
                    for pid, v in conn.execute("SELECT profile_id, version FROM serving.profile_summary "
                                               "WHERE profile_id = ANY(%s)", (waiting,)):  # fmt: skip
                        if v > pending[pid][0]:
                            to_serving[pid] = (now - pending[pid][1]) * 1000
                            progress.advance(task)
                time.sleep(0.02)
    return sorted(to_ch.values()), sorted(to_serving.values())


def counts(stack: StackSettings, ch: Any, dsn: str) -> dict[str, int]:
    api = ["social.profile.snapshot", "social.post.snapshot", "social.scrape.status"]
    agents = ["metrics.profile.rolling", "metrics.post.rolling", "status.scrape.post"]
    out = {
        "Debezium CDC messages": end_offsets(stack.bootstrap, CDC_TOPICS),
        "Kafka messages on the API topics (multi-row)": end_offsets(stack.bootstrap, api),
        "Kafka messages out of the Faust agents (multi-row)": end_offsets(stack.bootstrap, agents),
    }
    out["ClickHouse rows (latest-state tables + snapshots)"] = int(ch.query(
        "SELECT (SELECT count() FROM profile_rolling) + (SELECT count() FROM post_rolling) + "
        "(SELECT count() FROM scrape_post_status) + (SELECT sum(snapshots) FROM "
        "(SELECT uniqExactMerge(snapshots) AS snapshots FROM profile_daily GROUP BY profile_id, day))"
    ).result_rows[0][0])  # fmt: skip
    with psycopg.connect(dsn) as conn:
        total = 0
        for spec in ("profile_summary", "post_metrics", "leaderboard_monthly", "profile_followers_daily",
                     "scrape_health", "scrape_post_status", "collection_summary"):  # fmt: skip
            r = conn.execute(f"SELECT count(*) FROM serving.{spec}").fetchone()
            total += int(r[0]) if r else 0
        out["PostgreSQL serving-table rows"] = total
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def print_summary(s: Summary, console: Console) -> None:
    t = Table(title="Stir Stream demo: events per stage (totals in this stack)")
    t.add_column("stage")
    t.add_column("count", justify="right")
    for k, v in s.counts.items():
        t.add_row(k, f"{v:,}")
    console.print(t)
    f = Table(title=f"Freshness ({len(s.to_clickhouse_ms)} probe commits)")
    for c in ("path", "p50 ms", "p95 ms", "max ms"):
        f.add_column(c, justify="right" if c != "path" else "left")
    for name, vals in (("PostgreSQL commit → ClickHouse row", s.to_clickhouse_ms),
                       ("PostgreSQL commit → serving table", s.to_serving_ms)):  # fmt: skip
        f.add_row(name, f"{pct(vals, 50):.0f}", f"{pct(vals, 95):.0f}", f"{max(vals, default=float('nan')):.0f}")
    console.print(f)
    lb = Table(title="Top 10 by followers, current month, global (serving.leaderboard_current)")
    for c in ("rank", "platform", "handle", "category", "followers", "prev rank"):
        lb.add_column(c)
    for rank, platform, handle, category, value, prev in s.top10:
        lb.add_row(str(rank), platform, handle or "", category or "", f"{value:,.0f}", str(prev or "-"))
    console.print(lb)
    console.print("durations: " + ", ".join(f"{k} {v:.1f}s" for k, v in s.seconds.items()))


def top10(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(
            "SELECT l.rank, l.platform, p.handle, p.category, l.value, l.prev_rank "
            "FROM serving.leaderboard_current l LEFT JOIN public.profiles p ON p.id::text = l.profile_id "
            "WHERE l.metric = 'followers' AND l.scope = 'global' AND l.platform = 'instagram' "
            "ORDER BY l.rank LIMIT 10").fetchall())  # fmt: skip


def run(keep_running: bool, size: DemoSize, console: Console) -> Summary:
    from clickhouse_ddl.backends import connect
    from clickhouse_ddl.settings import WarehouseSettings
    from connectors.connect_client import ConnectClient
    from connectors.debezium import ConnectorSettings, apply, config_for
    from connectors.ingest.settings import IngestSettings
    from connectors.ingest.tokens import TokenStore
    from deploy.local.pipeline import COMPONENTS
    from deploy.local.stack import down as stack_down
    from deploy.local.stack import up as stack_up
    from schemas.oltp_migrate import migrate

    summary = Summary()
    t0 = time.monotonic()
    stack = StackSettings()
    pipeline = Pipeline(stack.state_dir / "run")
    started_services: list[str] = []
    started_components: list[str] = []
    try:
        console.rule("services")
        started_services = stack_up(stack, on_event=lambda m: console.print(f"  {m}"))
        migrate(stack.dsn())
        cfg = ConnectorSettings()
        with ConnectClient(stack.connect_rest) as client:
            apply(client, cfg, stack.dsn(), config_for(stack, cfg))
        console.print(f"  OLTP schema migrated; connector {cfg.name} RUNNING")
        token = TokenStore(IngestSettings().tokens_file).create(f"demo-{int(time.time())}", ["*"])
        started_components = [c for c in COMPONENTS if pipeline.process(c).running() is None]
        pipeline.up(tuple(started_components), on_event=lambda m: console.print(f"  {m}"))
        summary.seconds["start"] = time.monotonic() - t0

        console.rule("workload")
        t1 = time.monotonic()
        cdc_before = end_offsets(stack.bootstrap, CDC_TOPICS)
        played = play_workload(stack.dsn(), pipeline.ingest_url, token, size, console)
        played.update(play_domains(stack.dsn(), pipeline.ingest_url, token, size, console))
        summary.seconds["workload"] = time.monotonic() - t1

        console.rule("pipeline")
        t2 = time.monotonic()
        cdc_rows = played["postgres_rows"] + played["hiring_rows"]
        wait_for_pipeline(stack, pipeline, cdc_before, cdc_rows, stack.dsn(), console)
        summary.seconds["catch-up after the last event"] = time.monotonic() - t2
        ch = connect(WarehouseSettings())
        summary.to_clickhouse_ms, summary.to_serving_ms = freshness_probes(stack.dsn(), ch, size.probes, console)
        summary.counts = {"postgres rows written (this run)": cdc_rows,
                          "ingest API events accepted (this run)": played["api_events"] + played["activity_events"],
                          **counts(stack, ch, stack.dsn())}  # fmt: skip
        summary.top10 = top10(stack.dsn())
        ch.close()
        summary.seconds["total"] = time.monotonic() - t0
        print_summary(summary, console)
        print_domains(stack.dsn(), console)
        return summary
    finally:
        if not keep_running:
            pipeline.down(tuple(started_components))
            stack_down(stack, only=started_services)
            console.print(f"stopped what the demo started: {', '.join(started_components + started_services) or '-'}")
        else:
            console.print("left running (stop with `make down`)")
