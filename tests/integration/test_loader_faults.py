"""kill -9 of the serving loader in every phase of a run (COPY, index build, swap transaction): readers never
see an error or a partial table, the live table stays the previous complete one, and the next run cleans up
and swaps normally."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import psycopg
import pytest

from deploy.local.process import wait_until
from serving_loader.loader import ensure_schema, run_spec
from serving_loader.specs import Spec, cols

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SPEC = Spec(name="fault_probe", query="-", columns=cols("id bigint, generation integer"),
            indexes=(("id",), ("generation",)), interval_s=1)  # fmt: skip
ROWS = 200_000

CHILD = r"""
import sys, time, psycopg
from serving_loader.loader import run_spec
from serving_loader.specs import Spec, cols
dsn, schema, generation, phase = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
spec = Spec(name="fault_probe", query="-", columns=cols("id bigint, generation integer"),
            indexes=(("id",), ("generation",)), interval_s=1)
def blocks():
    for start in range(0, ROWS, 10000):
        if phase == "copy" and start == 100000:
            print("IN-PHASE", flush=True); time.sleep(60)
        yield [(i, generation) for i in range(start, start + 10000)]
conn = psycopg.connect(dsn, autocommit=True)
if phase in ("index", "swap"):
    orig = conn.execute
    renames = []
    def execute(query, *a, **k):
        text = query.as_string(conn) if hasattr(query, "as_string") else str(query)
        if "RENAME TO" in text:
            renames.append(text)
        # swap: after live -> _old inside the transaction, which then holds the live table's lock
        if (phase == "index" and text.startswith("CREATE INDEX")) or (phase == "swap" and len(renames) == 2):
            print("IN-PHASE", flush=True); time.sleep(60)
        return orig(query, *a, **k)
    conn.execute = execute
run_spec(spec, blocks(), conn, schema)
""".replace("ROWS", str(ROWS))


def _count(dsn: str, schema: str) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as c:
        row = c.execute(f"SELECT count(*), min(generation), max(generation) FROM {schema}.fault_probe").fetchone()
    assert row is not None
    return row[0], row[1], row[2]


@pytest.mark.parametrize("phase", ["copy", "index", "swap"])
def test_loader_killed_in_each_phase_keeps_the_live_table_whole(fresh_db, uid, phase):
    schema = f"serving_{uid}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ensure_schema(conn, schema)
        run_spec(SPEC, iter([[(i, 1) for i in range(ROWS)]]), conn, schema)
    reads: list[tuple[int, int, int]] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        with psycopg.connect(fresh_db, autocommit=True) as c:
            while not stop.is_set():
                try:
                    row = c.execute(f"SELECT count(*), min(generation), max(generation) FROM {schema}.fault_probe")
                    reads.append(row.fetchone())  # type: ignore[arg-type]
                except Exception as exc:
                    errors.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        child = subprocess.Popen([sys.executable, "-c", CHILD, fresh_db, schema, "2", phase], stdout=subprocess.PIPE,
                                 text=True, env={**os.environ})  # fmt: skip
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "IN-PHASE"
        if phase == "swap":  # inside the swap transaction, holding the live table's lock: readers queue behind it

            def readers_waiting() -> bool:
                with psycopg.connect(fresh_db) as c:
                    row = c.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND query LIKE '%fault_probe%'").fetchone()  # fmt: skip
                return bool(row and row[0] > 0)

            assert wait_until(readers_waiting, 10, 0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert wait_until(lambda: len(reads) > 20, 30, 0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert {r for r in reads} == {(ROWS, 1, 1)}  # only the previous complete table, never a partial one
    assert _count(fresh_db, schema) == (ROWS, 1, 1)
    # the next run drops the leftover table and swaps in generation 3
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        r = run_spec(SPEC, iter([[(i, 3) for i in range(ROWS)]]), conn, schema)
        assert r.outcome == "swapped"
        leftovers = conn.execute("SELECT relname FROM pg_class WHERE relname = 'fault_probe_new'").fetchall()
    assert _count(fresh_db, schema) == (ROWS, 3, 3) and leftovers == []
    print(json.dumps({"phase": phase, "reads": len(reads)}))
