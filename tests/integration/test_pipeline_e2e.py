"""End to end on real services: rows written to PostgreSQL and events posted to the ingest API reach the
PostgreSQL serving tables through Debezium, Kafka, the Faust worker, the embedded ClickHouse warehouse (its Kafka
engine) and the loader, and equal an independent oracle (``tests/oracle.py`` + ``tests/serving_oracle.py``)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from clickhouse_ddl.runner import all_sources
from connectors.connect_client import ConnectClient
from connectors.debezium import apply, connector_config, drop
from connectors.ingest_client import IngestClient
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from schemas.kafka import end_offsets
from schemas.oltp_migrate import migrate
from schemas.roles import APP, LOADER
from serving_loader.specs import SPECS
from streams.settings import StreamsSettings
from tests.support import oracle, serving_oracle
from tests.support.harness import caught_up, cdc_connector, ingest_token, pipeline_env, serving_schema
from tests.support.kafka import delete_topics
from tests.support.workload import HOUR, Workload, generate

pytestmark = pytest.mark.integration


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(v: Any) -> Any:
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else v


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, float) and got is not None:
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return bool(_ms(got) == want)


def _realize(w: Workload, dsn: str, ingest_url: str, token: str) -> Workload:
    """Write the workload's OLTP side to PostgreSQL (profiles, posts, scrape requests) and post its events to
    the ingest API. Returns the workload as actually produced (CDC rows as Debezium will report them)."""
    produced = Workload(w.start_ms, w.end_ms, w.lateness_ms)
    first_snapshot: dict[str, dict[str, Any]] = {}
    posts: dict[str, dict[str, Any]] = {}
    for topic, key, row in w.arrival:
        if topic == "social.profile.snapshot":
            first_snapshot.setdefault(key, row)
        elif topic == "social.post.snapshot":
            posts.setdefault(key, row)
    lsn = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for pid, snap in first_snapshot.items():
            conn.execute("INSERT INTO profiles (id, platform, handle, category, language) VALUES (%s,%s,%s,%s,%s)",
                         (int(pid), snap["platform"], snap["handle"], snap["category"], snap["language"]))  # fmt: skip
            lsn += 1
            image = {"id": int(pid), "handle": snap["handle"], "category": snap["category"],
                     "language": snap["language"]}  # fmt: skip
            produced.arrival.append(("cdc.profiles", pid, {"before": None, "after": image, "op": "c",
                                                           "source": {"lsn": lsn}}))  # fmt: skip
        for post_id, p in posts.items():
            values = (int(post_id), int(p["profile_id"]), p["platform"], f"sc{post_id}", p["post_type"],
                      _dt(p["published_at"]))  # fmt: skip
            conn.execute("INSERT INTO posts (id, profile_id, platform, shortcode, post_type, published_at) "
                         "VALUES (%s,%s,%s,%s,%s,%s)", values)  # fmt: skip
        cdc_profiles = sorted((r for t, _, r in w.arrival if t == "cdc.profiles"), key=lambda r: r["source"]["lsn"])
        for r in cdc_profiles:
            a = r["after"]
            if str(a["id"]) not in first_snapshot:
                continue
            conn.execute("UPDATE profiles SET category = %s, language = %s WHERE id = %s",
                         (a["category"], a["language"], a["id"]))  # fmt: skip
            lsn += 1
            image = {**a, "handle": first_snapshot[str(a["id"])]["handle"]}
            produced.arrival.append(("cdc.profiles", str(a["id"]), {"before": image, "after": image, "op": "u",
                                                                    "source": {"lsn": lsn}}))  # fmt: skip
        applied: set[int] = set()
        for cid in sorted({k for t, k, _ in w.arrival if t == "cdc.collection_items"}):
            conn.execute("INSERT INTO collections (id, name) VALUES (%s, %s)", (int(cid), f"collection {cid}"))
        items = sorted((r for t, _, r in w.arrival if t == "cdc.collection_items"), key=lambda r: r["source"]["lsn"])
        for r in items:
            if r["source"]["lsn"] in applied:  # a re-delivered copy in the workload
                continue
            applied.add(r["source"]["lsn"])
            image = r["after"] or r["before"]
            if r["op"] == "d":
                conn.execute("DELETE FROM collection_items WHERE collection_id = %s AND post_id = %s",
                             (image["collection_id"], image["post_id"]))  # fmt: skip
            else:
                conn.execute("INSERT INTO collection_items (collection_id, post_id, added_at) VALUES (%s, %s, %s)",
                             (image["collection_id"], image["post_id"], image["added_at"]))  # fmt: skip
            lsn += 1
            produced.arrival.append(("cdc.collection_items", str(image["collection_id"]),
                                     {**r, "source": {"lsn": lsn}}))  # fmt: skip
        for topic, key, row in w.arrival:
            if topic == "cdc.scrape_requests":
                a = row["after"]
                conn.execute("INSERT INTO scrape_requests (id, post_id, flow, status, attempt, updated_at) "
                             "VALUES (%s,%s,%s,%s,%s,%s)", (int(a["id"]), int(a["post_id"]), a["flow"], a["status"],
                                                            a["attempt"], a["updated_at"]))  # fmt: skip
                produced.arrival.append((topic, key, row))
    with IngestClient(ingest_url, token, source="e2e", batch_size=1000) as client:
        for topic, key, row in w.arrival:
            if topic.startswith("social."):
                client.send(topic, {k: v for k, v in row.items() if k != "ingested_at"})
                produced.arrival.append((topic, key, row))
    assert not client.stats.rejected, client.stats.rejected[:3]
    return produced


def _serving(dsn: str, schema: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute(f'SELECT * FROM {schema}."{table}"').fetchall())


def _assert_serving_equals_oracle(produced: Workload, clock: int, dsn: str, schema: str) -> None:
    """Every social serving table equals the oracle over what was produced (deleted entities left out)."""
    expected = oracle.compute(produced, clock)
    profiles = serving_oracle.profile_summary(expected["metrics.profile.rolling"])
    posts = serving_oracle.live(expected["metrics.post.rolling"])

    got = {r["profile_id"]: r for r in _serving(dsn, schema, "profile_summary")}
    assert set(got) == set(profiles)
    for pid, want in profiles.items():
        for col, value in want.items():
            if col in got[pid]:
                assert _same(value, got[pid][col]), f"profile_summary {pid} {col}: {got[pid][col]!r} != {value!r}"

    got = {r["post_id"]: r for r in _serving(dsn, schema, "post_metrics")}
    assert set(got) == set(posts)
    for post_id, want in posts.items():
        for col, value in want.items():
            assert _same(value, got[post_id][col]), f"post_metrics {post_id} {col}"

    statuses = serving_oracle.live(expected["status.scrape.post"])
    got = {r["post_id"]: r for r in _serving(dsn, schema, "scrape_post_status")}
    assert set(got) == set(statuses)
    for post_id, want in statuses.items():
        for col, value in want.items():
            assert _same(value, got[post_id][col]), f"scrape_post_status {post_id} {col}"

    board = serving_oracle.leaderboard(produced, expected["metrics.profile.rolling"], expected["metrics.post.rolling"])
    got = {(r["month"], r["platform"], r["scope"], r["scope_value"], r["metric"], r["profile_id"]): r
           for r in _serving(dsn, schema, "leaderboard_monthly")}  # fmt: skip
    assert set(got) == set(board), f"leaderboard keys differ: {len(set(got) ^ set(board))}"
    for k, want in board.items():
        assert (got[k]["value"], got[k]["rank"], got[k]["prev_rank"]) == (want["value"], want["rank"],
                                                                          want["prev_rank"]), k  # fmt: skip

    daily = serving_oracle.followers_daily(produced, serving_oracle.gone(expected["metrics.profile.rolling"]))
    got_daily = {(r["profile_id"], r["platform"], r["day"]): r["followers"]
                 for r in _serving(dsn, schema, "profile_followers_daily")}  # fmt: skip
    assert got_daily == daily

    collections = serving_oracle.live(expected["metrics.collection.rolling"])
    got = {r["collection_id"]: r for r in _serving(dsn, schema, "collection_summary")}
    assert set(got) == set(collections)
    for cid, want in collections.items():
        for col, value in want.items():
            assert _same(value, got[cid][col]), f"collection_summary {cid} {col}: {got[cid][col]!r} != {value!r}"

    hourly = serving_oracle.scrape_health_hourly(produced)
    got_hourly = {(r["flow"], r["status"], r["window_start"]): r["requests"]
                  for r in _serving(dsn, schema, "scrape_health") if r["granularity"] == "1h"}  # fmt: skip
    assert got_hourly == hourly


def _delete_some(produced: Workload, dsn: str) -> dict[str, Any]:
    """DELETE in PostgreSQL (the cascades included); the Debezium rows that follow are added to ``produced``
    (scrape requests aside: a deleted request is no scrape fact) and counted per table in ``rows``."""
    snapshots = [r for t, _, r in produced.arrival if t == "social.post.snapshot"]
    by_profile: dict[str, set[str]] = {}
    for r in snapshots:
        by_profile.setdefault(r["profile_id"], set()).add(r["post_id"])
    victim, other = sorted(by_profile)[:2]
    posts = set(sorted(by_profile[other])[:2])
    members: dict[tuple[str, str], tuple[int, str]] = {}
    for t, key, r in produced.arrival:
        if t == "cdc.collection_items":
            image = r["after"] or r["before"]
            k = (key, str(image["post_id"]))
            if k not in members or r["source"]["lsn"] > members[k][0]:
                members[k] = (r["source"]["lsn"], r["op"])
    present = sorted(k for k, (_, op) in members.items() if op != "d")
    collection = present[0][0]
    lsn = max(r["source"]["lsn"] for t, _, r in produced.arrival if t.startswith("cdc."))

    rows: dict[str, int] = dict.fromkeys(("profiles", "posts", "collections", "collection_items", "scrape_requests"), 0)

    def row(table: str, key: str, before: dict[str, Any]) -> None:
        nonlocal lsn
        lsn += 1
        rows[table] += 1
        produced.arrival.append((f"cdc.{table}", key, {"before": before, "after": None, "op": "d",
                                                       "source": {"lsn": lsn}}))  # fmt: skip

    gone_posts = posts | by_profile[victim]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for cid, post_id in present:
            if cid == collection or post_id in gone_posts:
                row("collection_items", cid, {"collection_id": int(cid), "post_id": int(post_id)})
        conn.execute("DELETE FROM collections WHERE id = %s", (int(collection),))
        row("collections", collection, {"id": int(collection)})
        conn.execute("DELETE FROM posts WHERE id = ANY(%s)", ([int(p) for p in sorted(gone_posts)],))
        for post_id in sorted(gone_posts):
            row("posts", post_id, {"id": int(post_id)})
        conn.execute("DELETE FROM profiles WHERE id = %s", (int(victim),))
        row("profiles", victim, {"id": int(victim)})
    requests = [r for t, _, r in produced.arrival if t == "cdc.scrape_requests"]
    rows["scrape_requests"] = sum(1 for r in requests if str(r["after"]["post_id"]) in gone_posts)
    return {"profile": victim, "posts": gone_posts, "collection": collection, "rows": rows}


@pytest.mark.parametrize("mode", ["auto", "snapshot"])  # auto: the hot tables are refreshed incrementally
def test_writes_and_events_reach_serving_tables_equal_to_oracle(stack, fresh_db, uid, tmp_path, mode):
    migrate(fresh_db)
    prefix = f"e2e{uid}."
    schema = serving_schema(prefix)
    now = int(time.time() * 1000)
    w = generate(
        profiles=30, days=40, posts_per_profile=6, seed=31, end_ms=now - 3 * HOUR, numeric_ids=True, collections=8
    )
    clock = w.end_ms + 2 * HOUR
    cfg = cdc_connector(prefix, uid)
    loader_dsn = make_conninfo(stack.dsn(role=LOADER), dbname=f"t_{uid}")  # the loader's own role
    env = pipeline_env(prefix, tmp_path / "state", loader_dsn, STIR_STREAMS_ALLOWED_LATENESS_MS=str(w.lateness_ms),
                       STIR_STREAMS_CLOCK_MS=str(clock), STIR_LOADER_MODE=mode)  # fmt: skip
    token = ingest_token(env)
    pipeline = Pipeline(tmp_path / "run", env)
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=f"t_{uid}"))
        pipeline.up()
        produced = _realize(w, fresh_db, pipeline.ingest_url, token)

        # every CDC row is in Kafka, then the worker, the warehouse and the loader have caught up
        cdc_expected = {table: sum(1 for t, _, _ in produced.arrival if t == f"cdc.{table}")
                        for table in ("profiles", "scrape_requests", "collection_items")}  # fmt: skip
        for table, n in cdc_expected.items():
            topic = f"{prefix}cdc.public.{table}"
            assert wait_until(lambda t=topic, n=n: end_offsets(stack.bootstrap, [t]) >= n, 120, 0.5), topic
        caught_up(stack.bootstrap, prefix, fresh_db, specs=tuple(s.name for s in SPECS), run_dir=pipeline.run_dir)

        _assert_serving_equals_oracle(produced, clock, fresh_db, schema)
        assert len(_serving(fresh_db, schema, "profile_summary")) == 30
        app_dsn = make_conninfo(stack.dsn(role=APP), dbname=f"t_{uid}")  # the app reads as its read-only role
        assert len(_serving(app_dsn, schema, "profile_summary")) == 30
        assert len(_serving(fresh_db, schema, "collection_summary")) >= 5

        # deletes in PostgreSQL: a profile with its posts, two posts of another profile, a collection
        tables = ("profiles", "posts", "collections", "collection_items", "scrape_requests")
        before = {t: end_offsets(stack.bootstrap, [f"{prefix}cdc.public.{t}"]) for t in tables}
        deleted = _delete_some(produced, fresh_db)
        for table, n in deleted["rows"].items():
            topic, want = f"{prefix}cdc.public.{table}", before[table] + n
            assert wait_until(lambda t=topic, w=want: end_offsets(stack.bootstrap, [t]) >= w, 120, 0.5), topic
        caught_up(stack.bootstrap, prefix, fresh_db, specs=tuple(s.name for s in SPECS), run_dir=pipeline.run_dir)
        profile_ids = {r["profile_id"] for r in _serving(fresh_db, schema, "profile_summary")}
        post_ids = {r["post_id"] for r in _serving(fresh_db, schema, "post_metrics")}
        assert deleted["profile"] not in profile_ids and not deleted["posts"] & post_ids
        assert deleted["profile"] not in {r["profile_id"] for r in _serving(fresh_db, schema, "leaderboard_monthly")}
        assert deleted["collection"] not in {
            r["collection_id"] for r in _serving(fresh_db, schema, "collection_summary")
        }
        _assert_serving_equals_oracle(produced, clock, fresh_db, schema)
    finally:
        pipeline.down()
        drop(client, cfg, fresh_db)
        client.close()
        delete_topics(stack.bootstrap, [prefix + t for t in _all_topics()])


def _all_topics() -> list[str]:
    from streams.app import topics

    names = {t for t in topics(StreamsSettings(topic_prefix="")) if not t.startswith("cdc.")}
    names |= {s.topic for s in all_sources()}
    return sorted(
        names | {f"cdc.public.{t}" for t in ("profiles", "posts", "scrape_requests", "collections", "collection_items")}
    )
