"""The loader's swap on real PostgreSQL: 50 readers query the live table while it is swapped again and again;
none errors, none sees a partial or mixed table. An empty or shrunken upstream is refused and the live table
kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from serving_loader.loader import ensure_schema, run_spec
from serving_loader.specs import Spec, cols

pytestmark = pytest.mark.integration

VIEW = "SELECT generation, count(*) AS n FROM {table} GROUP BY generation"
SPEC = Spec(name="swap_probe", query="-", columns=cols("id bigint, grp text, generation integer"),
            indexes=(("id",), ("grp", "generation")), interval_s=1, min_row_ratio=0.5,
            views=(("swap_probe_view", VIEW),))  # fmt: skip
BASE_ROWS = 50_000


def _rows(generation: int) -> int:
    return BASE_ROWS + generation  # each generation has its own size, so a mixed read shows


def _blocks(generation: int, n: int | None = None) -> Iterator[list[tuple[Any, ...]]]:
    n = _rows(generation) if n is None else n
    for start in range(0, n, 10_000):
        yield [(i, f"g{i % 7}", generation) for i in range(start, min(start + 10_000, n))]


def test_fifty_readers_never_see_an_error_or_a_partial_table(fresh_db, uid):
    schema = f"serving_{uid}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ensure_schema(conn, schema)
        assert run_spec(SPEC, _blocks(1), conn, schema).outcome == "swapped"

    stop = threading.Event()
    reads: list[tuple[int, int, int, int]] = []  # (count, min generation, max generation, view count)
    waits: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    query = f"SELECT count(*), min(generation), max(generation) FROM {schema}.swap_probe"

    def reader() -> None:
        with psycopg.connect(fresh_db, autocommit=True) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    row = c.execute(query).fetchone()
                    view = c.execute(f"SELECT sum(n) FROM {schema}.swap_probe_view").fetchone()
                except Exception as exc:  # any error is a failure of the swap
                    with lock:
                        errors.append(repr(exc))
                    continue
                with lock:
                    waits.append(time.perf_counter() - t0)
                    reads.append((row[0], row[1], row[2], view[0]))  # type: ignore[index]

    threads = [threading.Thread(target=reader) for _ in range(50)]
    for t in threads:
        t.start()
    swaps = []
    try:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            for generation in range(2, 12):
                r = run_spec(SPEC, _blocks(generation), conn, schema)
                assert r.outcome == "swapped" and r.rows == _rows(generation)
                swaps.append(r)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert len(reads) > 500
    partial = [r for r in reads if r[1] != r[2] or r[0] != _rows(r[1])]
    assert partial == []
    assert all(r[3] - BASE_ROWS in range(1, 12) for r in reads)  # the dependent view, recreated each swap
    generations = {r[1] for r in reads}
    assert 11 in generations and len(generations) > 2  # readers saw the swaps happen
    swap_ms = sorted(s.phases["swap"] * 1000 for s in swaps)
    print(f"\n{len(reads)} reads by 50 readers during {len(swaps)} swaps: 0 errors, 0 partial reads; "
          f"max reader wait {max(waits) * 1000:.1f} ms; swap transaction {swap_ms[0]:.1f}-{swap_ms[-1]:.1f} ms; "
          f"retries {sum(s.attempts - 1 for s in swaps)}")  # fmt: skip

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        live = conn.execute(f"SELECT count(*), max(generation) FROM {schema}.swap_probe").fetchone()
        assert live == (_rows(11), 11)
        assert conn.execute(f"SELECT max(generation) FROM {schema}.swap_probe_old").fetchone() == (10,)  # one backup
        empty = run_spec(SPEC, iter([]), conn, schema)
        assert empty.outcome == "refused"
        shrunk = run_spec(SPEC, _blocks(12, n=_rows(11) // 3), conn, schema)
        assert shrunk.outcome == "refused"
        assert conn.execute(f"SELECT count(*), max(generation) FROM {schema}.swap_probe").fetchone() == live
        assert conn.execute(f"SELECT to_regclass('{schema}.swap_probe_new')").fetchone() == (None,)
        outcomes = conn.execute(f"SELECT outcome, error FROM {schema}.stir_load_runs ORDER BY started_at DESC LIMIT 2")
        got = outcomes.fetchall()
        assert [o for o, _ in got] == ["refused", "refused"]
        assert "below 50%" in got[0][1] and "0 rows" in got[1][1]


def test_a_row_postgresql_cannot_hold_is_left_out_and_named_not_a_frozen_table(fresh_db, uid):
    """A NUL in a text value, or a 6,400-character value in an indexed column (btree rows hold 2,704 bytes),
    once made every refresh fail: now those rows are left out, named by key and column, and the rest swaps."""
    from prometheus_client import REGISTRY

    spec = Spec(name=f"poison_{uid}", query="-", columns=cols("profile_id text, category text, note text"),
                indexes=(("profile_id",), ("category",)), interval_s=1)  # fmt: skip
    rows = [(f"p{i}", "food", "ok") for i in range(100)]
    rows += [("bad-nul", "beauty\x00", "x"), ("bad-long", "c" * 6400, "x"), ("bad-note", "food", "a\x00b")]
    schema = f"s_{uid}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ensure_schema(conn, schema)
        r = run_spec(spec, iter([rows]), conn, schema)
        assert r.outcome == "swapped" and r.rows == 100 and r.skipped_rows == 3
        assert "profile_id='bad-nul': category holds a NUL character" in r.skipped[0]
        assert "profile_id='bad-long': category is over 2000 bytes" in r.skipped[1]
        assert "profile_id='bad-note': note holds a NUL" in r.skipped[2]
        got = conn.execute(f'SELECT count(*) FROM {schema}."{spec.name}"').fetchone()
        assert got is not None and got[0] == 100
        runs = conn.execute(f"SELECT outcome, error FROM {schema}.stir_load_runs WHERE spec = %s", (spec.name,))
        outcome, error = runs.fetchone() or (None, None)
        assert outcome == "swapped" and "skipped 3 rows" in error and "bad-long" in error
    assert REGISTRY.get_sample_value("stir_loader_rows_skipped_total", {"spec": spec.name, "column": "category"}) == 2
