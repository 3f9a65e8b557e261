"""The Stir app's discovery pages and leaderboards on real services: 14 months of two-platform events (500
profiles, posts of every type with stories, audience readings, insights, duplicates, disorder and late events)
posted to the ingest API reach ``instagram_account``, ``youtube_account``, ``leaderboard``, the growth series and
the insights through Kafka, the Faust worker, the embedded warehouse and the loader, and equal the independent
oracle (``tests/support/oracle.py`` + ``tests/support/discovery_oracle.py``); the queries the app runs on them
give the oracle's answers."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from connectors.ingest_client import IngestClient
from deploy.local.pipeline import Pipeline
from schemas.oltp_migrate import migrate
from schemas.roles import APP, LOADER
from serving_loader.discovery_specs import DISCOVERY_SPECS
from tests.support import audience_trends_oracle as ato
from tests.support import discovery_oracle as do
from tests.support import oracle
from tests.support import posts_oracle as po
from tests.support.discovery_marts_check import same
from tests.support.harness import caught_up, ingest_token, pipeline_env, serving_schema
from tests.support.kafka import delete_topics
from tests.support.workload import DAY, HOUR, Workload, generate

pytestmark = pytest.mark.integration


def _plain(v: Any) -> Any:
    """A PostgreSQL value as the oracle writes it (times as epoch ms)."""
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else v


def _rows(dsn: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return [{k: _plain(v) for k, v in r.items()} for r in cur.execute(sql, params).fetchall()]


def _assert_equal(table: str, want: dict[Any, dict[str, Any]], got: dict[Any, dict[str, Any]]) -> None:
    assert set(got) == set(want), (
        f"{table}: keys differ ({len(set(got) ^ set(want))}): {sorted(set(got) ^ set(want))[:3]}"
    )
    for k, row in want.items():
        for c, v in row.items():
            if c in got[k]:
                assert same(got[k][c], v), f"{table} {k} {c}: {got[k][c]!r} != {v!r}"


def test_discovery_and_leaderboards_equal_the_oracle_and_answer_the_apps_queries(stack, fresh_db, uid, tmp_path):
    migrate(fresh_db)
    prefix = f"stir{uid}."
    schema = serving_schema(prefix)
    now = int(time.time() * 1000)
    w = generate(profiles=500, days=400, posts_per_profile=8, seed=53, end_ms=now - 3 * HOUR, discovery=True,
                 lateness_ms=90 * DAY)  # fmt: skip
    clock = w.end_ms + 2 * HOUR
    loader_dsn = make_conninfo(stack.dsn(role=LOADER), dbname=f"t_{uid}")
    env = pipeline_env(prefix, tmp_path / "state", loader_dsn, STIR_STREAMS_ALLOWED_LATENESS_MS=str(w.lateness_ms),
                       STIR_STREAMS_CLOCK_MS=str(clock))  # fmt: skip
    token = ingest_token(env)
    pipeline = Pipeline(tmp_path / "run", env)
    try:
        pipeline.up()
        sent = [(t, k, r) for t, k, r in w.arrival if t.startswith("social.")]
        with IngestClient(pipeline.ingest_url, token, source="parity", batch_size=2000) as client:
            for topic, _key, row in sent:
                client.send(topic, {k: v for k, v in row.items() if k != "ingested_at"})
        assert not client.stats.rejected, client.stats.rejected[:3]
        caught_up(stack.bootstrap, prefix, fresh_db, specs=tuple(s.name for s in DISCOVERY_SPECS),
                  run_dir=pipeline.run_dir, timeout_s=600)  # fmt: skip

        w = Workload(w.start_ms, w.end_ms, w.lateness_ms, sent)  # what was produced (no CDC rows: ingest only)
        final = oracle.compute(w, clock)
        profiles, posts = final["metrics.profile.rolling"], final["metrics.post.rolling"]
        discovery = do.discovery(w, profiles)
        app_dsn = make_conninfo(stack.dsn(role=APP), dbname=f"t_{uid}")  # the app reads as its read-only role
        for platform in ("instagram", "youtube"):
            want = {k: r for k, r in discovery.items() if r["platform"] == platform}
            got = {r["profile_id"]: r for r in _rows(app_dsn, f'SELECT * FROM {schema}."{platform}_account"')}
            _assert_equal(f"{platform}_account", want, got)
            assert len(want) > 200
        board = do.leaderboard(w, profiles, posts)
        got = {
            (r["month"], r["platform"], r["profile_id"]): r
            for r in _rows(app_dsn, f"SELECT * FROM {schema}.leaderboard")
        }
        _assert_equal("leaderboard", board, got)
        months = sorted({m for m, _, _ in board})
        assert len(months) >= 13 and any(r["last_month_ranks"] for r in board.values())
        for table, want_rows, key in (
            ("profile_series_daily", do.series_daily(w, profiles), ("profile_id", "day")),
            ("profile_series_daily_filled", do.series_daily_filled(w, profiles), ("profile_id", "day")),
            ("profile_series_weekly", do.series_weekly(w, profiles), ("profile_id", "week")),
            ("profile_series_monthly", do.series_monthly(w, profiles), ("profile_id", "month")),
            ("profile_insights", do.insights(w, profiles), ("profile_id", "day", "content_type")),
        ):
            got = {tuple(r[c] for c in key): r for r in _rows(app_dsn, f"SELECT * FROM {schema}.{table}")}
            _assert_equal(table, want_rows, got)
            assert want_rows, table
        snapshots = [row for topic, _, row in sent if topic == "social.profile.snapshot"]
        for table, want_rows, key in (
            ("post_ranks", po.post_ranks(posts), ("profile_id", "post_class", "post_id")),
            ("story_reach", po.story_reach(snapshots, profiles, posts), ("post_id",)),
            ("profile_audience_info", ato.audience_info(w, profiles), ("profile_id",)),
        ):
            got = {tuple(r[c] for c in key) if len(key) > 1 else r[key[0]]: r
                   for r in _rows(app_dsn, f"SELECT * FROM {schema}.{table}")}  # fmt: skip
            _assert_equal(table, want_rows, got)
            assert len(want_rows) > 100, table

        _assert_the_apps_queries(app_dsn, schema, discovery, board, months[-2])
    finally:
        pipeline.down()
        delete_topics(stack.bootstrap, [prefix + t for t in _topics()])


def _assert_the_apps_queries(dsn: str, schema: str, discovery: dict[str, dict[str, Any]],
                             board: dict[tuple[date, str, str], dict[str, Any]], month: date) -> None:  # fmt: skip
    # the top 100 of the cross-platform board by followers, and of Instagram by engagement within a category
    for platform, rank in (("all", "followers_global"), ("instagram", "engagement_rate_category")):
        got = [r["profile_id"] for r in _rows(
            dsn, f"SELECT profile_id FROM {schema}.leaderboard WHERE month = %s AND platform = %s "
            "AND current_month_ranks ? %s ORDER BY (current_month_ranks ->> %s)::int, profile_id LIMIT 100",
            month, platform, rank, rank)]  # fmt: skip
        ranked = sorted((r["current_month_ranks"][rank], pid) for (m, b, pid), r in board.items()
                        if m == month and b == platform and rank in r["current_month_ranks"])  # fmt: skip
        assert got == [pid for _, pid in ranked[:100]] and len(got) >= 50, (platform, rank)
    # one profile's rank maps, this month and the last
    (m, b, pid), want = next((k, r) for k, r in board.items() if k[0] == month and r["last_month_ranks"])
    (row,) = _rows(dsn, f"SELECT last_month_ranks, current_month_ranks FROM {schema}.leaderboard "
                   "WHERE month = %s AND platform = %s AND profile_id = %s", m, b, pid)  # fmt: skip
    assert row == {"last_month_ranks": want["last_month_ranks"], "current_month_ranks": want["current_month_ranks"]}
    # discovery search: a phrase, filtered by grades and country, most followed first
    got = [r["profile_id"] for r in _rows(
        dsn, f"SELECT profile_id FROM {schema}.instagram_account WHERE search_phrase ILIKE %s "
        "AND engagement_rate_grade IN ('Excellent', 'Very Good') AND country = 'US' "
        "ORDER BY followers DESC, profile_id",
        "%creator 1%")]  # fmt: skip
    want_ids = sorted(((-r["followers"], p) for p, r in discovery.items() if r["platform"] == "instagram"
                       and "creator 1" in r["search_phrase"] and r["country"] == "US"
                       and r["engagement_rate_grade"] in ("Excellent", "Very Good")))  # fmt: skip
    assert got == [p for _, p in want_ids] and got, "search"
    got_set = {r["profile_id"] for r in _rows(
        dsn, f"SELECT profile_id FROM {schema}.youtube_account WHERE followers_growth1y_grade = 'Excellent' "
        "AND audience_authencity_grade IS NOT NULL")}  # fmt: skip
    want_set = {
        p for p, r in discovery.items()
        if r["platform"] == "youtube" and r["followers_growth1y_grade"] == "Excellent"
        and r["audience_authencity_grade"] is not None
    }  # fmt: skip
    assert got_set == want_set and got_set, "grade filter"


def _topics() -> list[str]:
    from clickhouse_ddl.runner import all_sources
    from streams.app import topics
    from streams.settings import StreamsSettings

    names = {t for t in topics(StreamsSettings(topic_prefix="")) if not t.startswith("cdc.")}
    return sorted(names | {s.topic for s in all_sources()})
