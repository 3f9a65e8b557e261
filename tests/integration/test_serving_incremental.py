"""The incremental refresh on real PostgreSQL and the embedded warehouse: after a first snapshot, rounds of
changed, new and deleted profiles are applied as upserts and deletes, and the serving table equals the plain-Python
oracle after each (the grades of profiles that did not change included: their group's thresholds moved); a long
reader holds nothing up; the row-ratio guard refuses a mass delete and leaves table and window as they were;
`rebuild` swaps a whole table in; a loader SIGKILLed inside its upsert transaction leaves the previous table, and
the next refresh catches up exactly."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg
import pytest

from deploy.local.pipeline import Pipeline
from serving_loader.scheduler import Loader
from serving_loader.settings import LoaderSettings
from serving_loader.specs import by_name
from tests.support.harness import pipeline_env, serving_schema, warehouse_client
from tests.support.serving_oracle import profile_summary as oracle_summary

pytestmark = pytest.mark.integration

SPEC = by_name()["profile_summary"]
GROUPS = ("nano", "micro", "macro")
METRICS = ("engagement_rate", "avg_likes", "avg_comments", "avg_views", "growth_rate_30d", "avg_posts_per_week")


def _metric(rnd: random.Random) -> float | None:
    return rnd.choice([None, 0.0, round(rnd.uniform(0.1, 10), 3), round(rnd.uniform(0.1, 10), 3)])


def _profile(rnd: random.Random, pid: str, version: int, group: str | None = None) -> dict[str, Any]:
    return {"profile_id": pid, "version": version, "as_of": 1_790_000_000_000 + version, "platform": "instagram",
            "followers": rnd.randint(10, 10**6), "followers_growth_7d": None, "followers_growth_30d": 5,
            "followers_growth_90d": None, "likes_to_comment_ratio": 2.5, "likes_spread": None,
            "follower_group": group or rnd.choice(GROUPS), "category": "food", "language": "en", "deleted": None,
            **{m: _metric(rnd) for m in METRICS}}  # fmt: skip


def _literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'").replace("\x00", "\\0") + "'"
    return repr(v)


TYPES = {
    "profile_id": "String",
    "version": "Int64",
    "platform": "String",
    "followers": "Int64",
    "followers_growth_7d": "Nullable(Int64)",
    "followers_growth_30d": "Nullable(Int64)",
    "followers_growth_90d": "Nullable(Int64)",
    "likes_to_comment_ratio": "Nullable(Float64)",
    "likes_spread": "Nullable(Float64)",
    "follower_group": "String",
    "category": "Nullable(String)",
    "language": "Nullable(String)",
    "deleted": "Nullable(Bool)",
    **{m: "Nullable(Float64)" for m in METRICS},
}


def _insert(ch: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into the warehouse's profile_rolling as the stream's would land there (ClickHouse stamps inserted_at)."""
    cols = list(TYPES)
    structure = ", ".join(f"{c} {t}" for c, t in TYPES.items()) + ", as_of_ms Int64"
    values = ", ".join("(" + ", ".join([_literal(r[c]) for c in cols] + [str(r["as_of"])]) + ")" for r in rows)
    ch.command(f"INSERT INTO profile_rolling ({', '.join(cols)}, as_of) SELECT {', '.join(cols)}, "
               f"fromUnixTimestamp64Milli(as_of_ms, 'UTC') FROM values('{structure}', {values})")  # fmt: skip


def _served(dsn: str, schema: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return {r["profile_id"]: r for r in cur.execute(f'SELECT * FROM "{schema}".profile_summary')}


def _diff(want: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    if set(want) != set(got):
        return [f"keys differ: {sorted(set(want) ^ set(got))[:5]}"]
    bad = []
    for pid, row in want.items():
        for col in ("follower_group", "followers", "version", *METRICS, "engagement_grade", "likes_grade",
                    "comments_grade", "views_grade", "growth_grade", "posts_per_week_grade"):  # fmt: skip
            w, g = row[col], got[pid][col]
            same = (w is None and g is None) or (
                w is not None and g is not None and (w == g or (isinstance(w, float) and math.isclose(w, g)))
            )
            if not same:
                bad.append(f"{pid}.{col}: served {g!r}, oracle {w!r}")
    return bad


def _state(dsn: str, schema: str) -> tuple[Any, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            f'SELECT upto, rows FROM "{schema}".stir_load_state WHERE spec = %s', (SPEC.name,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


CHILD = r"""
import sys, time
import serving_loader.incremental as inc
from serving_loader.scheduler import Loader
from serving_loader.settings import LoaderSettings
from serving_loader.specs import by_name
from tests.support.harness import warehouse_client
import json
settings = LoaderSettings(**json.loads(sys.argv[1]))
env = json.loads(sys.argv[2])
orig = inc._apply
def apply(*a, **k):
    orig(*a, **k)
    print("IN-UPSERT", flush=True)  # the rows are written, the transaction is open
    time.sleep(60)
inc._apply = apply
Loader(settings, sys.argv[3], lambda: warehouse_client(env)).once(by_name()["profile_summary"])
"""


def test_incremental_refreshes_equal_the_oracle_through_changes_guard_rebuild_and_a_kill(stack, fresh_db, uid,
                                                                                          tmp_path):  # fmt: skip
    prefix = f"inc{uid}."
    schema = serving_schema(prefix)
    env = pipeline_env(prefix, tmp_path / "state", fresh_db)
    pipeline = Pipeline(tmp_path / "run", env)
    child_settings = {"topic_prefix": prefix, "only": [SPEC.name], "overlap_s": 1.0}
    settings = LoaderSettings(**child_settings)
    rnd = random.Random(7)
    truth: dict[str, dict[str, Any]] = {}
    version = 1

    def write(rows: list[dict[str, Any]]) -> None:
        _insert(ch, rows)
        for r in rows:
            truth[r["profile_id"]] = r

    try:
        pipeline.up(("warehouse",))
        ch = warehouse_client(env)
        loader = Loader(settings, fresh_db, lambda: warehouse_client(env))
        write([_profile(rnd, f"p{i}", version) for i in range(300)])
        first = loader.once(SPEC)
        assert (first.mode, first.outcome, first.rows) == ("snapshot", "swapped", 300)
        assert not _diff(oracle_summary(truth), _served(fresh_db, schema))

        for round_ in range(6):  # changed, new and deleted profiles; groups' thresholds move
            version += 1
            live = [p for p, r in truth.items() if not r["deleted"]]
            picked = rnd.sample(live, 18)
            rows = [_profile(rnd, pid, version, truth[pid]["follower_group"]) for pid in picked[:15]]
            rows += [_profile(rnd, f"n{round_}-{i}", version) for i in range(4)]
            rows += [{**truth[pid], "version": version, "deleted": True} for pid in picked[15:]]
            write(rows)
            r = loader.once(SPEC)
            assert (r.mode, r.outcome) == ("incremental", "upserted"), r
            assert r.deleted == 3 and r.rows < 150, r  # the changed rows and the ones whose grade moved
            diff = _diff(oracle_summary(truth), _served(fresh_db, schema))
            assert not diff, f"round {round_}: {diff[:10]}"

        # writes go on while the loader refreshes (thresholds move between a refresh's looks): exact once quiet
        stop, written = threading.Event(), [0]

        def writer() -> None:
            wrnd, v = random.Random(11), version
            while not stop.is_set():
                v += 1
                live = [p for p, r in truth.items() if not r["deleted"]]
                write([_profile(wrnd, pid, v, truth[pid]["follower_group"]) for pid in wrnd.sample(live, 5)])
                written[0] = v

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        refreshes = 0
        try:
            while refreshes < 15:
                assert loader.once(SPEC).outcome == "upserted"
                refreshes += 1
        finally:
            stop.set()
            thread.join(10)
        version = written[0]
        loader.once(SPEC)
        diff = _diff(oracle_summary(truth), _served(fresh_db, schema))
        assert not diff, f"after concurrent writes: {diff[:10]}"

        # a background merge between the loader's look at the changed keys and its fetch of their rows: a stale
        # version inserted in the window is merged away under the newer row from before the window; the profile
        # stays (it was deleted from serving once, as "gone")
        victim = next(p for p, r in truth.items() if not r["deleted"])
        time.sleep(settings.overlap_s + 0.5)  # the victim's newest row is outside the next window
        _insert(ch, [{**_profile(rnd, victim, 0, truth[victim]["follower_group"])}])  # version 0: stale

        class MergingClient:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def query(self, text: str, *a: Any, **k: Any) -> Any:
                got = self.inner.query(text, *a, **k)
                if text.startswith("SELECT DISTINCT"):
                    self.inner.command("OPTIMIZE TABLE profile_rolling FINAL")
                return got

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

        merging = MergingClient(warehouse_client(env))
        r = loader.once(SPEC, ch=merging)
        assert r.deleted == 0, r
        assert not _diff(oracle_summary(truth), _served(fresh_db, schema))

        # a key PostgreSQL cannot hold (a NUL) is left out, and its later delete does not wedge the table
        version += 1
        bad = _profile(rnd, "bad\x00key", version)
        _insert(ch, [bad])
        assert loader.once(SPEC).skipped_rows == 1
        version += 1
        _insert(ch, [{**bad, "version": version, "deleted": True}])
        assert loader.once(SPEC).outcome == "upserted"
        assert not _diff(oracle_summary(truth), _served(fresh_db, schema))

        # a long reader holds the table in a transaction: an upsert goes through meanwhile
        with psycopg.connect(fresh_db) as reader:
            reader.execute(f'SELECT count(*) FROM "{schema}".profile_summary').fetchone()  # its transaction is open
            version += 1
            write([_profile(rnd, "p1", version, truth["p1"]["follower_group"])])
            done = threading.Event()
            worker = threading.Thread(target=lambda: (loader.once(SPEC), done.set()), daemon=True)
            worker.start()
            assert done.wait(20), "an upsert waited for a long reader"
        assert not _diff(oracle_summary(truth), _served(fresh_db, schema))

        # the guard: a mass delete is refused, the table and the window stay
        before, state = _served(fresh_db, schema), _state(fresh_db, schema)
        version += 1
        live = [p for p, r in truth.items() if not r["deleted"]]
        mass = [{**truth[pid], "version": version, "deleted": True} for pid in live[: int(len(live) * 0.8)]]
        _insert(ch, mass)
        refused = loader.once(SPEC)
        assert refused.outcome == "refused", refused
        assert _served(fresh_db, schema) == before and _state(fresh_db, schema) == state
        # undone upstream (newer versions alive again): the next refresh applies it all
        version += 1
        write([{**truth[r["profile_id"]], "version": version} for r in mass])
        assert loader.once(SPEC).outcome == "upserted"
        assert not _diff(oracle_summary(truth), _served(fresh_db, schema))

        # the repair path: a row changed by hand in serving is put right by a rebuild
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(f"DELETE FROM \"{schema}\".profile_summary WHERE profile_id = 'p2'")
        rebuilt = loader.once(SPEC, rebuild=True)
        assert (rebuilt.mode, rebuilt.outcome) == ("snapshot", "swapped")
        assert not _diff(oracle_summary(truth), _served(fresh_db, schema))

        # SIGKILL inside the upsert's transaction: the previous table and window stay; the next refresh is exact
        before, state = _served(fresh_db, schema), _state(fresh_db, schema)
        version += 1
        live = [p for p, r in truth.items() if not r["deleted"]]
        write([_profile(rnd, pid, version, truth[pid]["follower_group"]) for pid in rnd.sample(live, 20)])
        child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(child_settings),
                                  json.dumps(env), fresh_db], stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "IN-UPSERT"
            child.kill()
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        assert _served(fresh_db, schema) == before and _state(fresh_db, schema) == state
        after = loader.once(SPEC)
        assert (after.mode, after.outcome) == ("incremental", "upserted")
        assert not _diff(oracle_summary(truth), _served(fresh_db, schema))
    finally:
        pipeline.down(("warehouse",))
