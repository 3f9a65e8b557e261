"""Run every spec at its own interval (``stir load run``), or one spec once (``stir load once``).

Each spec has a thread of its own, with its own PostgreSQL connection and ClickHouse client: a slow or failing
table (a long copy, a swap deferred behind a long reader, an error) never delays the others' schedules. A spec is
next due one interval after its run ended.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from prometheus_client import Gauge
from psycopg import sql

from schemas.custody import Custody, Position
from serving_loader.incremental import (
    Concurrent,
    NeedsSnapshot,
    Versions,
    ch_now,
    load_state,
    next_versions,
    save_state,
    strip_thresholds,
)
from serving_loader.loader import (
    RunResult,
    describe_failure,
    ensure_schema,
    observe_position,
    run_incremental,
    run_spec,
)
from serving_loader.settings import LoaderSettings
from serving_loader.specs import SPECS, Spec, by_name
from serving_loader.swap import clear_pending
from serving_loader.swap import exists as _exists

log = logging.getLogger("stir.loader")

NEXT_DUE = Gauge("stir_loader_next_due_timestamp_seconds", "When the spec's next refresh is due", ["spec"])


class Loader:
    def __init__(self, settings: LoaderSettings, dsn: str, ch: Callable[[], Any],
                 probes: Sequence[Callable[[], None]] = (), custody: Custody | None = None) -> None:  # fmt: skip
        """``ch`` makes a ClickHouse client (one per spec thread); ``probes`` run on the main thread's turns (the
        local runtime adds its CDC health probe); ``custody`` follows the source position each refresh records
        (``schemas/custody.py``; without it a table's source position is unknown)."""
        self.s = settings
        self.custody = custody
        self._autovacuum: set[str] = set()
        self.probes = list(probes)
        self.dsn = dsn
        self.ch = ch
        with psycopg.connect(dsn, autocommit=True) as conn:
            ensure_schema(conn, settings.schema_name)

    def specs(self) -> list[Spec]:
        known = by_name()
        unknown = [n for n in self.s.only if n not in known]
        if unknown:
            raise ValueError(f"STIR_LOADER_ONLY names unknown specs: {', '.join(unknown)} (known: {', '.join(known)})")
        return [known[n] for n in self.s.only] if self.s.only else list(SPECS)

    def incremental(self, spec: Spec) -> bool:
        return spec.incremental is not None and self.s.mode == "auto"

    def once(self, spec: Spec, conn: psycopg.Connection[Any] | None = None, ch: Any = None,
             stop: threading.Event | None = None, rebuild: bool = False) -> RunResult:  # fmt: skip
        """Refresh one spec now (on the given connection and client, or new ones): incrementally where it can,
        else (or with ``rebuild``) a full snapshot and swap."""
        own_conn, own_ch = conn is None, ch is None
        conn = conn or psycopg.connect(self.dsn, autocommit=True)
        ch = ch or self.ch()
        schema = self.s.schema_name
        position = self.custody.position() if self.custody else None  # confirmed before the warehouse look
        try:
            fingerprint = self.fingerprint(spec, ch)
            if self.incremental(spec) and not rebuild:
                state = load_state(conn, schema, spec.name)
                bands = spec.incremental.bands if spec.incremental else None
                if (
                    state is not None
                    and state.fingerprint == fingerprint  # the spec and the warehouse's marts are the same
                    and (bands is None or state.versions is not None)
                    and _exists(conn, schema, spec.name)
                ):
                    self._vacuumed(conn, spec)
                    try:
                        return run_incremental(spec, ch, conn, schema, state, self.s.overlap_s, self.s.block_rows,
                                               position)  # fmt: skip
                    except NeedsSnapshot as exc:
                        log.info("%s: a snapshot instead of an incremental refresh: %s", spec.name, exc)
                    except Concurrent as exc:
                        log.info("%s", exc)
                        return RunResult(spec.name, "skipped", 0, state.rows, mode="incremental")
            result = self._snapshot(spec, conn, ch, stop, position, fingerprint)
            if result.outcome == "swapped":
                observe_position(spec.name, position)
            return result
        finally:
            if own_conn:
                conn.close()
            if own_ch:
                ch.close()

    def fingerprint(self, spec: Spec, ch: Any) -> str:
        """Of what the table is built from: the spec, and the warehouse's migrations (a redefined mart view changes
        rows no insert window would name: the next refresh is a snapshot)."""
        try:
            version = ch.query("SELECT max(version) FROM stir_schema_history").result_rows[0][0]
        except Exception:  # a warehouse without a migration history: the spec alone
            version = None
        text = repr((spec.columns, spec.indexes, spec.query, spec.incremental, version))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _vacuumed(self, conn: psycopg.Connection[Any], spec: Spec) -> None:
        """An incrementally refreshed table is autovacuumed (a snapshot table is not); once per table and process."""
        if spec.name not in self._autovacuum:
            conn.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(
                sql.Identifier(self.s.schema_name, spec.name)))  # fmt: skip
            self._autovacuum.add(spec.name)

    def _snapshot(self, spec: Spec, conn: psycopg.Connection[Any], ch: Any, stop: threading.Event | None,
                  position: Position | None, fingerprint: str) -> RunResult:  # fmt: skip
        upto = ch_now(ch)  # the snapshot reflects what was inserted before its query began
        bands = spec.incremental.bands if spec.incremental and self.incremental(spec) else None
        query, expected = spec.query, spec.column_names
        if bands is not None:  # the rows with the thresholds they were graded with
            query, expected = bands.query, expected + bands.threshold_columns
        graded: Versions = {}
        incremental = self.incremental(spec)

        def within(c: psycopg.Connection[Any], rows: int) -> None:
            save_state(c, self.s.schema_name, spec.name, upto, rows, next_versions({}, graded) if bands else None,
                       position, fingerprint)  # fmt: skip
            if incremental:  # updated in place from now on
                c.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(
                    sql.Identifier(self.s.schema_name, spec.name)))  # fmt: skip
                self._autovacuum.add(spec.name)

        with ch.query_row_block_stream(query, settings={"max_block_size": self.s.block_rows}) as stream:
            names = list(stream.source.column_names)
            # an empty result can come without a header (chdb's Native output): nothing to check, 0 rows
            if names and names != expected:
                raise ValueError(f"{spec.name}: the query returns columns {names}, the spec expects {expected}")
            blocks: Any = iter(stream)
            if bands is not None:
                blocks = strip_thresholds(blocks, spec, bands, graded)
            return run_spec(spec, blocks, conn, self.s.schema_name, self.s.swap_policy(), stop, within)

    def _spec_loop(self, spec: Spec, stop: threading.Event) -> None:
        conn: psycopg.Connection[Any] | None = None
        ch: Any = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                ch = ch or self.ch()
                r = self.once(spec, conn, ch, stop)
                log.info("%s: %s %d rows (copy %.3fs, swap %.3fs, %d deferrals)", spec.name, r.outcome, r.rows,
                         r.phases.get("copy", 0), r.phases.get("swap", 0), r.deferrals)  # fmt: skip
            except Exception as exc:  # this table waits for its next turn; the others go on
                log.error("%s: load failed: %s", spec.name, describe_failure(exc))
                if conn is not None and (conn.closed or conn.broken):
                    conn = None
            interval = spec.interval_s if self.incremental(spec) else spec.snapshot_interval_s or spec.interval_s
            due = time.time() + interval * self.s.interval_scale
            NEXT_DUE.labels(spec.name).set(due)
            stop.wait(max(0.0, due - time.time()))
        if conn is not None:
            conn.close()
        if ch is not None:
            ch.close()

    def run(self, stop: threading.Event) -> None:
        specs = self.specs()
        with psycopg.connect(self.dsn, autocommit=True) as conn:  # what a killed loader left waiting is not
            clear_pending(conn, self.s.schema_name, [s.name for s in specs])
        if self.custody is not None:
            self.custody.start(stop)
        threads = [threading.Thread(target=self._spec_loop, args=(spec, stop), name=f"load-{spec.name}", daemon=True)
                   for spec in specs]  # fmt: skip
        for t in threads:
            t.start()
        while not stop.is_set():
            for probe in self.probes:
                try:
                    probe()
                except Exception as exc:
                    log.warning("probe failed: %s", exc)
            stop.wait(5.0)
        deadline = time.monotonic() + 30  # a run in its copy ends it; a deferred swap gives up at once
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
