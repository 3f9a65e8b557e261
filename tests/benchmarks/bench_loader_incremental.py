"""The serving loader's two modes on one 1M-row hot table, side by side in one run: the real loader refreshes
``profile_summary`` from the embedded warehouse into PostgreSQL, once as a full snapshot and swap (`stir load
rebuild`), once incrementally after 1 % of the profiles changed (new versions of 10,000 profiles, which also move
their groups' grade thresholds). Rounds alternate the two; the figure is the ratio of the medians."""

from __future__ import annotations

import json
import statistics
import time

import psycopg

from deploy.local.pipeline import Pipeline
from serving_loader.scheduler import Loader
from serving_loader.settings import LoaderSettings
from serving_loader.specs import by_name
from tests.support.harness import pipeline_env, serving_schema, warehouse_client

ROWS = 1_000_000
CHANGED_EVERY = 100  # 1 %
ROUNDS = 3
SPEC = by_name()["profile_summary"]


def _profiles(version: int, where: str) -> str:
    """Profiles as the stream would land them in profile_rolling; each version's metrics differ (seeded hashes)."""
    h = f"cityHash64(number, {version})"
    return (
        "INSERT INTO profile_rolling (profile_id, version, as_of, platform, followers, follower_group, category, "
        "language, engagement_rate, avg_likes, avg_comments, avg_views, growth_rate_30d, avg_posts_per_week, "
        "likes_to_comment_ratio, posts_counted) "
        f"SELECT toString(number), {version}, now64(3), 'instagram', {h} % 5000000, "
        "['nano', 'micro', 'mid', 'macro', 'mega'][number % 5 + 1], ['food', 'travel', 'tech'][number % 3 + 1], 'en', "
        f"({h} % 100000) / 10000, ({h} % 70000) / 7, ({h} % 9000) / 9, if(number % 4 = 0, NULL, ({h} % 80000) / 3), "
        f"(({h} % 2000) - 1000) / 10000, ({h} % 300) / 30, ({h} % 5000) / 100, 12 "
        f"FROM numbers({ROWS}) WHERE {where}"
    )


def test_incremental_refresh_against_full_swap(stack, fresh_db, uid, tmp_path, results):
    prefix = f"bli{uid}."
    schema = serving_schema(prefix)
    env = pipeline_env(prefix, tmp_path / "state", fresh_db)
    pipeline = Pipeline(tmp_path / "run", env)
    settings = LoaderSettings(topic_prefix=prefix, only=[SPEC.name])
    full: list[dict[str, float]] = []
    incremental: list[dict[str, float]] = []
    try:
        pipeline.up(("warehouse",))
        ch = warehouse_client(env)
        ch.command(_profiles(1, "1"))
        loader = Loader(settings, fresh_db, lambda: warehouse_client(env))
        first = loader.once(SPEC)
        assert first.outcome == "swapped" and first.rows == ROWS, first
        for round_ in range(ROUNDS):
            ch.command(_profiles(2 + round_, f"number % {CHANGED_EVERY} = {round_}"))
            t0 = time.perf_counter()
            inc = loader.once(SPEC)
            wall = time.perf_counter() - t0
            assert inc.mode == "incremental" and inc.outcome == "upserted", inc
            assert inc.rows >= ROWS // CHANGED_EVERY * 0.9, inc  # the changed profiles were written
            incremental.append(
                {"wall_s": wall, "rows_written": inc.rows, **{f"{k}_s": v for k, v in inc.phases.items()}}
            )
            t0 = time.perf_counter()
            swapped = loader.once(SPEC, rebuild=True)
            wall = time.perf_counter() - t0
            assert swapped.outcome == "swapped" and swapped.rows == ROWS, swapped
            full.append({"wall_s": wall, **{f"{k}_s": v for k, v in swapped.phases.items()}})
        with psycopg.connect(fresh_db) as conn:
            row = conn.execute(f'SELECT count(*) FROM "{schema}".profile_summary').fetchone()
        assert row is not None and row[0] == ROWS
    finally:
        pipeline.down(("warehouse",))

    def med(runs: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(r[key] for r in runs if key in r), 3)

    figures = {
        "rows": ROWS, "changed_rows_per_round": ROWS // CHANGED_EVERY, "rounds": ROUNDS,
        "full_swap_s": med(full, "wall_s"),
        "full_phases_s": {k: med(full, f"{k}_s") for k in ("copy", "index", "swap")},
        "incremental_s": med(incremental, "wall_s"),
        "incremental_phases_s": {k: med(incremental, f"{k}_s") for k in ("fetch", "apply")},
        "incremental_rows_written": med(incremental, "rows_written"),
        "ratio_incremental_to_full": round(med(incremental, "wall_s") / med(full, "wall_s"), 3),
        "runs": {"full": full, "incremental": incremental},
    }  # fmt: skip
    results.record("loader_incremental", figures)
    print(json.dumps(figures, indent=2))
