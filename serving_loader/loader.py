"""One snapshot run: ClickHouse → a fresh PostgreSQL table → atomic swap with the live one.

Phases: ``copy`` (stream the query's blocks out of ClickHouse into a binary ``COPY``), ``index`` (indexes +
``ANALYZE``), ``swap`` (one short transaction: live → ``<name>_old``, new → live, dependent views recreated;
it defers rather than queue the app's readers behind a long one: ``swap.py``). Readers never see a partial
table: the new one becomes visible only by the rename, at commit. The swap is refused, and
the live table kept, when the new row count is 0 while the live one is not, or below ``min_row_ratio`` of it.

No single row can freeze a table: a row PostgreSQL cannot hold (a NUL in a text column, a value too long for
the btree index on it) is left out of the snapshot, and named (table, key, column, why) in the log, the
``stir_load_runs`` record and ``stir_loader_rows_skipped_total``; a run that still fails names the line and
column PostgreSQL reports, and the other tables keep refreshing (``scheduler.py``).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client import Counter, Gauge, Histogram
from psycopg import sql

from schemas.custody import Position
from schemas.roles import grant_serving_reads
from serving_loader.incremental import Refused, State, add_columns, ensure_state_table, refresh
from serving_loader.specs import Spec
from serving_loader.swap import SwapPolicy, SwapStats, swap

log = logging.getLogger("stir.loader")

ROWS = Gauge("stir_loader_rows", "Rows in the live serving table after the last swap", ["spec"])
PHASE = Histogram("stir_loader_phase_seconds", "Duration of a load phase", ["spec", "phase"],
                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))  # fmt: skip
LOCK_WAIT = Histogram("stir_loader_lock_wait_seconds", "Time the swap waited for its locks", ["spec"],
                      buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5))  # fmt: skip
REFUSALS = Counter("stir_loader_refusals_total", "Swaps refused by the row-ratio guard", ["spec"])
FAILURES = Counter("stir_loader_failures_total", "Load runs that failed", ["spec"])
SWAPS = Counter("stir_loader_swaps_total", "Swaps done", ["spec"])
SKIPPED = Counter("stir_loader_rows_skipped_total", "Rows left out of a snapshot: PostgreSQL cannot hold them",
                  ["spec", "column"])  # fmt: skip
INDEX_VALUE_BYTES = 2000  # below the btree limit of 2704 bytes per index row (composite keys: per column)
TEXT_TYPES = {"text", "varchar", "character varying"}
LAST_SWAP = Gauge("stir_loader_last_swap_timestamp_seconds", "When the spec's table was last swapped", ["spec"])
SOURCE_COMMIT = Gauge("stir_loader_source_commit_timestamp_seconds", "The spec's table reflects every OLTP "
                      "transaction committed up to this time (0: unknown)", ["spec"])  # fmt: skip
ACCEPTED_BEFORE = Gauge("stir_loader_accepted_before_timestamp_seconds", "The spec's table reflects every event "
                        "the ingest API accepted before this time (0: unknown)", ["spec"])  # fmt: skip
LAST_REFRESH = Gauge("stir_loader_last_refresh_timestamp_seconds",
                     "When the spec's table was last refreshed (swapped or upserted)", ["spec"])  # fmt: skip


@dataclass
class RunResult:
    spec: str
    outcome: str  # swapped | upserted | refused
    rows: int
    live_rows_before: int | None
    phases: dict[str, float] = field(default_factory=dict)
    lock_wait_s: float = 0.0  # from the swap's first look to its locks held, deferrals included
    attempts: int = 0
    deferrals: int = 0
    skipped: list[str] = field(default_factory=list)  # "key=...: column why" of the first 100 rows left out
    skipped_rows: int = 0
    mode: str = "snapshot"  # snapshot | incremental
    deleted: int = 0  # rows an incremental refresh deleted (``rows``: the rows it wrote)
    live_rows: int | None = None  # rows in the live table after the run


def ensure_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.stir_load_runs (spec text NOT NULL, started_at timestamptz NOT NULL, "
            "finished_at timestamptz NOT NULL DEFAULT now(), outcome text NOT NULL, rows bigint, "
            "live_rows_before bigint, copy_s float8, index_s float8, swap_s float8, lock_wait_s float8, "
            "attempts int, error text)"
        ).format(sql.Identifier(schema))
    )
    add_columns(conn, schema, "stir_load_runs", ("deferrals int", "mode text", "deleted bigint", "live_rows bigint"))
    ensure_state_table(conn, schema)
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.stir_load_pending (spec text PRIMARY KEY, "
                         "deferred_since timestamptz NOT NULL, deferrals int NOT NULL, holders text)").format(
        sql.Identifier(schema)))  # fmt: skip
    grant_serving_reads(conn, schema)


def _rows_of(conn: psycopg.Connection[Any], schema: str, table: str) -> int | None:
    exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.{table}",)).fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    got = row.fetchone()
    return int(got[0]) if got else 0


def refuse_reason(spec: Spec, new_rows: int, live_rows: int | None) -> str | None:
    if not live_rows:
        return None
    if new_rows == 0:
        return f"upstream returned 0 rows; the live table has {live_rows}"
    if new_rows < spec.min_row_ratio * live_rows:
        return f"{new_rows} rows is below {spec.min_row_ratio:.0%} of the live {live_rows}"
    return None


def row_checker(spec: Spec) -> Callable[[Any], tuple[str, str] | None]:
    """(column, why) of the first value of a row that PostgreSQL cannot hold, or None. Checks the text columns
    only (the numeric and time types come typed from ClickHouse)."""
    names = spec.column_names
    indexed = {c for ix in spec.indexes for c in ix}
    text = [(i, names[i], names[i] in indexed) for i, (_, t) in enumerate(spec.columns) if t in TEXT_TYPES]

    def check(row: Any) -> tuple[str, str] | None:
        for i, name, in_index in text:
            v = row[i]
            if type(v) is not str:
                continue
            if "\x00" in v:
                return name, "holds a NUL character"
            if in_index and len(v) * 4 > INDEX_VALUE_BYTES and len(v.encode("utf-8", "replace")) > INDEX_VALUE_BYTES:
                return name, f"is over {INDEX_VALUE_BYTES} bytes, too long for its index"
        return None

    return check


def _key_of(spec: Spec, row: Any) -> str:
    names = spec.column_names
    return ",".join(f"{c}={row[names.index(c)]!r}"[:120] for c in spec.indexes[0]) if spec.indexes else "?"


def describe_failure(exc: BaseException) -> str:
    """The error with where PostgreSQL says it happened (``COPY <table>, line N, column C``), when it says."""
    diag = getattr(exc, "diag", None)
    context = getattr(diag, "context", None) if diag is not None else None
    return f"{exc}".strip() + (f" ({context.strip()})" if context else "")


def run_spec(
    spec: Spec,
    blocks: Iterator[Any],
    conn: psycopg.Connection[Any],
    schema: str,
    policy: SwapPolicy = SwapPolicy(),
    stop: threading.Event | None = None,
    within: Callable[[psycopg.Connection[Any], int], None] | None = None,
) -> RunResult:
    """Load ``blocks`` (iterables of row tuples in the spec's column order) and swap. ``conn`` is autocommit;
    ``within(conn, rows)`` runs in the swap's transaction."""
    started = time.time()
    schema_id, new = sql.Identifier(schema), sql.Identifier(spec.name + "_new")
    result = RunResult(spec.name, "swapped", 0, _rows_of(conn, schema, spec.name))
    try:
        t0 = time.perf_counter()
        cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in spec.columns)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(schema_id, new))
        # never autovacuumed: a snapshot is never updated (ANALYZE below), and a vacuum of it would hold up its swap
        conn.execute(sql.SQL("CREATE TABLE {}.{} ({}) WITH (autovacuum_enabled = false)").format(schema_id, new, cols))
        names = sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names)
        copy_sql = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT BINARY)").format(schema_id, new, names)
        check = row_checker(spec)
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(spec.pg_types)
            for block in blocks:
                for row in block:
                    problem = check(row)
                    if problem is not None:
                        _skip(spec, row, problem, result)
                        continue
                    copy.write_row(row)
                    result.rows += 1
        result.phases["copy"] = time.perf_counter() - t0
        if result.skipped:
            log.warning("%s: left %d rows out of the snapshot (PostgreSQL cannot hold them): %s", spec.name,
                        result.skipped_rows, "; ".join(result.skipped[:5]))  # fmt: skip

        reason = refuse_reason(spec, result.rows, result.live_rows_before)
        if reason is not None:
            conn.execute(sql.SQL("DROP TABLE {}.{}").format(schema_id, new))
            result.outcome = "refused"
            REFUSALS.labels(spec.name).inc()
            log.warning("%s: swap refused: %s; the live table stays", spec.name, reason)
            _record(conn, schema, started, result, reason)
            return result

        t0 = time.perf_counter()
        tag = secrets.token_hex(3)
        for i, index_cols in enumerate(spec.indexes):
            ix = sql.Identifier(f"{spec.name}_{tag}_{i}")
            unique = sql.SQL("UNIQUE ") if i == 0 else sql.SQL("")
            conn.execute(sql.SQL("CREATE {}INDEX {} ON {}.{} ({})").format(
                unique, ix, schema_id, new, sql.SQL(", ").join(sql.Identifier(c) for c in index_cols)))  # fmt: skip
        conn.execute(sql.SQL("ANALYZE {}.{}").format(schema_id, new))
        result.phases["index"] = time.perf_counter() - t0

        t0, stats = time.perf_counter(), SwapStats()
        try:
            swap(conn, spec, schema, result.live_rows_before is None, policy, stats, stop,
                 None if within is None else lambda c: within(c, result.rows))  # fmt: skip
        finally:
            result.phases["swap"] = time.perf_counter() - t0
            result.attempts, result.deferrals, result.lock_wait_s = stats.attempts, stats.deferrals, stats.lock_wait_s
    except Exception as exc:
        FAILURES.labels(spec.name).inc()
        try:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(schema_id, new))
            _record(conn, schema, started, result, f"failed: {describe_failure(exc)}")
        except Exception:
            log.exception("%s: cleanup after a failed run failed", spec.name)
        raise
    for phase, seconds in result.phases.items():
        PHASE.labels(spec.name, phase).observe(seconds)
    LOCK_WAIT.labels(spec.name).observe(result.lock_wait_s)
    ROWS.labels(spec.name).set(result.rows)
    result.live_rows = result.rows
    SWAPS.labels(spec.name).inc()
    LAST_SWAP.labels(spec.name).set(time.time())
    LAST_REFRESH.labels(spec.name).set(time.time())
    _record(conn, schema, started, result, _skipped_note(result))
    return result


def run_incremental(spec: Spec, ch: Any, conn: psycopg.Connection[Any], schema: str, state: State, overlap_s: float,
                    block_rows: int, position: Position | None = None) -> RunResult:  # fmt: skip
    """Apply what changed since ``state`` (``incremental.py``). ``conn`` is autocommit."""
    started = time.time()
    result = RunResult(spec.name, "upserted", 0, state.rows, mode="incremental")
    try:
        applied = refresh(spec, ch, conn, schema, state, overlap_s, row_checker(spec),
                          lambda row, problem: _skip(spec, row, problem, result),
                          lambda new, live: refuse_reason(spec, new, live), block_rows, position)  # fmt: skip
    except Refused as exc:
        result.outcome = "refused"
        REFUSALS.labels(spec.name).inc()
        log.warning("%s: refresh refused: %s; the live table stays", spec.name, exc)
        _record(conn, schema, started, result, str(exc))
        return result
    except Exception as exc:
        FAILURES.labels(spec.name).inc()
        try:
            _record(conn, schema, started, result, f"failed: {describe_failure(exc)}")
        except Exception:
            log.exception("%s: recording a failed run failed", spec.name)
        raise
    result.rows, result.deleted, result.live_rows = applied.written, applied.deleted, applied.rows_after
    result.phases = {"fetch": applied.fetch_s, "apply": applied.apply_s}
    for phase, seconds in result.phases.items():
        PHASE.labels(spec.name, phase).observe(seconds)
    ROWS.labels(spec.name).set(applied.rows_after)
    LAST_REFRESH.labels(spec.name).set(time.time())
    observe_position(spec.name, position)
    if result.skipped:
        log.warning("%s: left %d rows out (PostgreSQL cannot hold them): %s", spec.name, result.skipped_rows,
                    "; ".join(result.skipped[:5]))  # fmt: skip
    if applied.written or applied.deleted or result.skipped:  # a refresh that changed nothing leaves no record
        _record(conn, schema, started, result, _skipped_note(result))
    return result


def observe_position(spec: str, position: Position | None) -> None:
    SOURCE_COMMIT.labels(spec).set(position.source_commit_time.timestamp() if position and
                                   position.source_commit_time else 0)  # fmt: skip
    ACCEPTED_BEFORE.labels(spec).set(position.accepted_before.timestamp() if position else 0)


def _skip(spec: Spec, row: Any, problem: tuple[str, str], result: RunResult) -> None:
    column, why = problem
    SKIPPED.labels(spec.name, column).inc()
    result.skipped_rows += 1
    if len(result.skipped) < 100:
        result.skipped.append(f"{_key_of(spec, row)}: {column} {why}")


def _skipped_note(result: RunResult) -> str | None:
    return f"skipped {result.skipped_rows} rows: " + "; ".join(result.skipped[:20]) if result.skipped else None


def _record(conn: psycopg.Connection[Any], schema: str, started: float, r: RunResult, error: str | None) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {}.stir_load_runs (spec, started_at, outcome, rows, live_rows_before, copy_s, index_s, "
            "swap_s, lock_wait_s, attempts, deferrals, error, mode, deleted, live_rows) "
            "VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(sql.Identifier(schema)),
        (r.spec, started, "failed" if error and error.startswith("failed") else r.outcome, r.rows,
         r.live_rows_before, r.phases.get("copy", r.phases.get("fetch")), r.phases.get("index"),
         r.phases.get("swap", r.phases.get("apply")), r.lock_wait_s, r.attempts, r.deferrals, error, r.mode,
         r.deleted, r.live_rows),
    )  # fmt: skip
