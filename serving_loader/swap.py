"""The swap: live → ``<name>_old`` (the previous backup dropped), new → live, dependent views recreated, in one
short transaction that does not queue the app's readers behind a long one.

PostgreSQL grants locks in queue order. A swap that asks for its ACCESS EXCLUSIVE lock while a long reader holds
the table waits in the queue, and every reader after it waits behind the swap: with a 2 s lock_timeout the app
stalled ~2 s per attempt, 18 of 30 s behind one long reader. So:
- the swap asks with a short ``lock_timeout`` (``lock_timeout_ms``), which bounds how long it, and so any reader
  behind it, waits; a timeout is a deferral (a sleep with backoff and jitter);
- a transaction that still holds the table after such an ask (``pg_locks``, looked at before and after) is a long
  one: the swap does not ask again while it holds the table. A long reader costs the app's readers one wait of
  at most ``lock_timeout_ms``, not one per attempt;
- each ask that timed out doubles the next one's ``lock_timeout``, up to ``max_lock_timeout_ms``: where readers
  overlap without pause (every moment someone holds the table), the swap still gets through, at the price of one
  wait that long at most.
A reader that arrives while the swap holds its locks waits for the swap's own statements only (renames and
views, milliseconds). A deadlock (a reader that reads the table, then a view, in one transaction) is a
deferral. After ``max_defer_s`` of deferrals the run fails and the live table stays.

``lock_wait_s`` is the time from the first look to the moment the locks were held, deferrals included.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter, Gauge
from psycopg import sql

from serving_loader.specs import Spec

log = logging.getLogger("stir.loader")

DEFERRALS = Counter("stir_loader_swap_deferrals_total", "Swap attempts deferred: another session held the table",
                    ["spec"])  # fmt: skip
DEFERRED_SINCE = Gauge("stir_loader_swap_deferred_since_timestamp_seconds",
                       "When the spec's pending swap was first deferred (0: none pending)", ["spec"])  # fmt: skip

HOLDERS = """
SELECT DISTINCT l.virtualtransaction, l.pid FROM pg_locks l
WHERE l.granted AND l.pid <> pg_backend_pid()
  AND l.relation IN (SELECT to_regclass(format('%%I.%%I', %s::text, n)) FROM unnest(%s::text[]) AS n)
"""


@dataclass(frozen=True)
class SwapPolicy:
    lock_timeout_ms: int = 50  # how long the first ask may wait in the lock queue (readers behind it wait as long)
    max_lock_timeout_ms: int = 1000  # each ask that timed out doubles the next one's, up to this
    max_defer_s: float = 300.0  # give up (the run fails, the live table stays) after deferring this long
    backoff_s: float = 0.05  # first deferral's sleep; doubles up to backoff_max_s, each with ±50 % jitter
    backoff_max_s: float = 1.0


class SwapDeferred(RuntimeError):
    """Other sessions held the table for the whole deferral budget."""


@dataclass
class SwapStats:
    attempts: int = 0  # times the swap asked for its locks
    deferrals: int = 0  # times it did not get them or did not ask (a long holder)
    lock_wait_s: float = 0.0


def _holders(conn: psycopg.Connection[Any], schema: str, names: list[str]) -> set[tuple[str, int]]:
    # a prepared transaction's locks have no pid: counted as pid 0
    return {(str(v), int(p or 0)) for v, p in conn.execute(HOLDERS, (schema, names)).fetchall()}


def _describe(holders: set[tuple[str, int]]) -> str:
    return ", ".join(f"pid {pid}" for pid in sorted({p for _, p in holders})) or "nobody now"


def swap(conn: psycopg.Connection[Any], spec: Spec, schema: str, first_load: bool, policy: SwapPolicy,
         stats: SwapStats, stop: threading.Event | None = None,
         within: Callable[[psycopg.Connection[Any]], None] | None = None) -> None:  # fmt: skip
    """Swap ``<name>_new`` in; ``within`` runs in the swap's transaction (what the new table reflects is recorded
    with it). ``conn`` is autocommit. Raises SwapDeferred when the table stayed held or ``stop`` was set while
    deferring; ``stats`` counts either way."""
    live, views = spec.name, [v for v, _ in spec.views]
    watched = [spec.name + "_new", spec.name + "_old", *views, live]  # everything the swap locks
    stop = stop or threading.Event()
    t0 = time.perf_counter()
    backoff = policy.backoff_s
    try:
        long_holders: set[tuple[str, int]] = set()  # (virtual transaction, pid) that outlived one of the asks
        timeout_ms = policy.lock_timeout_ms
        while True:
            holders = _holders(conn, schema, watched)
            long_holders &= holders  # the ones that ended are forgotten
            if not long_holders:
                stats.attempts += 1
                try:
                    _swap_once(conn, spec, schema, first_load, timeout_ms, stats, t0, within)
                    return
                except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
                    before, holders = holders, _holders(conn, schema, watched)
                    long_holders = before & holders
                    timeout_ms = min(timeout_ms * 2, policy.max_lock_timeout_ms)
            waited = time.perf_counter() - t0
            if stats.deferrals == 0:
                DEFERRED_SINCE.labels(spec.name).set(time.time())
            stats.deferrals += 1
            DEFERRALS.labels(spec.name).inc()
            if waited >= policy.max_defer_s:
                stats.lock_wait_s = waited
                raise SwapDeferred(f"{spec.name}: the table stayed held for {waited:.1f} s (by "
                                   f"{_describe(holders)}); the live table stays")  # fmt: skip
            if stats.deferrals in (1, 10) or stats.deferrals % 100 == 0:
                named = _describe(long_holders or holders)
                log.info("%s: swap deferred %d times over %.1f s: %s holds the table", spec.name, stats.deferrals,
                         waited, named)  # fmt: skip
                _pending(conn, schema, spec.name, stats.deferrals, named)
            if stop.wait(min(backoff, max(0.0, policy.max_defer_s - waited)) * random.uniform(0.5, 1.5)):
                raise SwapDeferred(f"{spec.name}: the loader is stopping; the live table stays")
            backoff = min(backoff * 2, policy.backoff_max_s)
    finally:
        DEFERRED_SINCE.labels(spec.name).set(0)
        if stats.deferrals:
            try:
                clear_pending(conn, schema, [spec.name])
            except psycopg.Error as exc:  # the error that ended the swap is the one to report
                log.warning("%s: could not clear its pending swap: %s", spec.name, exc)


def clear_pending(conn: psycopg.Connection[Any], schema: str, specs: list[str]) -> None:
    conn.execute(sql.SQL("DELETE FROM {}.stir_load_pending WHERE spec = ANY(%s)").format(sql.Identifier(schema)),
                 (specs,))  # fmt: skip


def _pending(conn: psycopg.Connection[Any], schema: str, spec: str, deferrals: int, holders: str) -> None:
    """What `stir load status` shows of a swap waiting now: since when, how often deferred, who holds the table."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {}.stir_load_pending (spec, deferred_since, deferrals, holders) VALUES (%s, now(), %s, %s) "
            "ON CONFLICT (spec) DO UPDATE SET deferrals = EXCLUDED.deferrals, holders = EXCLUDED.holders, "
            "deferred_since = CASE WHEN EXCLUDED.deferrals = 1 THEN now() ELSE stir_load_pending.deferred_since END"
        ).format(sql.Identifier(schema)),
        (spec, deferrals, holders),
    )


Within = Callable[[psycopg.Connection[Any]], None]


def _swap_once(conn: psycopg.Connection[Any], spec: Spec, schema: str, first_load: bool, lock_timeout_ms: int,
               stats: SwapStats, t0: float, within: Within | None) -> None:  # fmt: skip
    s = sql.Identifier(schema)
    live, new, old = spec.name, spec.name + "_new", spec.name + "_old"
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_timeout_ms}ms")))
        # the tables the app never reads first, then the views before the live table, as a reader of a view locks
        # the view and then the table (the same order cannot deadlock)
        present = [n for n in (new, old, *(v for v, _ in spec.views), live) if exists(conn, schema, n)]
        if present:
            targets = sql.SQL(", ").join(sql.Identifier(schema, n) for n in present)
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(targets))
        stats.lock_wait_s = time.perf_counter() - t0
        for view, _ in spec.views:
            conn.execute(sql.SQL("DROP VIEW IF EXISTS {}.{}").format(s, sql.Identifier(view)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(s, sql.Identifier(old)))
        if not first_load:
            conn.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(s, sql.Identifier(live), sql.Identifier(old)))
        conn.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(s, sql.Identifier(new), sql.Identifier(live)))
        for view, select in spec.views:
            body = sql.SQL(select.replace("{table}", "{t}")).format(t=sql.Identifier(schema, live))
            conn.execute(sql.SQL("CREATE VIEW {}.{} AS {}").format(s, sql.Identifier(view), body))
        if within is not None:
            within(conn)


def exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema, name)).fetchone()
    return bool(row and row[0])
