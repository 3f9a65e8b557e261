"""Serving loader on the real PostgreSQL: 1M-row snapshot (binary COPY rows/s, index build, swap transaction)
while 20 readers query the live table; their longest wait is the figure the app feels."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg

from serving_loader.loader import ensure_schema, run_spec
from serving_loader.specs import Spec, cols

ROWS = 1_000_000
SPEC = Spec(name="bench_probe", query="-",
            columns=cols("id bigint, profile_id text, followers bigint, engagement_rate float8, grade text"),
            indexes=(("id",), ("profile_id",)), interval_s=1)  # fmt: skip


def _blocks(generation: int) -> Iterator[list[tuple[int, str, int, float, str]]]:
    for start in range(0, ROWS, 50_000):
        yield [(i, f"p{i % 100_000}", i * generation, i / 1000, "Good") for i in range(start, start + 50_000)]


def test_loader_million_row_swap(stack, results):
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    dsn = stack.dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_schema(conn, schema)
        run_spec(SPEC, _blocks(1), conn, schema)
    stop = threading.Event()
    waits: list[float] = []
    errors: list[str] = []

    def reader() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    c.execute(f"SELECT followers FROM {schema}.bench_probe WHERE id = 4242").fetchone()
                except Exception as exc:
                    errors.append(repr(exc))
                waits.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            r = run_spec(SPEC, _blocks(2), conn, schema)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    assert r.outcome == "swapped" and r.rows == ROWS and not errors
    figures = {
        "rows": ROWS, "copy_rows_per_s": ROWS / r.phases["copy"], "copy_s": r.phases["copy"],
        "index_and_analyze_s": r.phases["index"], "swap_transaction_ms": r.phases["swap"] * 1000,
        "readers": 20, "reads": len(waits), "reader_max_wait_ms": max(waits) * 1000,
        "reader_p99_wait_ms": sorted(waits)[int(len(waits) * 0.99)] * 1000,
    }  # fmt: skip
    results.record("loader_swap", figures)
    print(json.dumps(figures, indent=2))
