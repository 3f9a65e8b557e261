"""Incremental refresh: apply to the live table only the rows that changed, in one transaction.

The window is ClickHouse insert time: every source row carries ``inserted_at``. A refresh reads ClickHouse's clock
(``upto``), lists the keys the spec's ``changed`` query names for (``since``, ``upto``] where ``since`` is the last
refresh's ``upto`` less ``overlap_s`` (a part inserted just before a refresh may become visible just after it: the
overlap reads it again), and fetches the current rows of those keys. In one PostgreSQL transaction it then deletes
the keys that have no row any more, upserts the rows (an update only where a value differs), checks the row-ratio
guard and records the new ``upto`` in ``stir_load_state``: the window and the table move together, so a loader
killed mid-refresh leaves both as they were and the next refresh redoes the window. The transaction takes ROW
EXCLUSIVE only, which no reader's lock conflicts with: a long reader never holds an incremental refresh up, and
readers see each refresh whole at its commit. The cost follows the change rate, not the table's size.

Grades relative to a group's thresholds (``Bands``) change without their row changing: the state also records, per
group, the thresholds the served rows were graded with (at most two versions: those of the last look, and those of
the rows fetched after it, when the thresholds moved in between); a refresh adds the rows whose metric lies
between a recorded threshold and the current one. A full snapshot (the first load, ``stir load rebuild``) records
the thresholds its rows came with.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from prometheus_client import Counter
from psycopg import sql

from schemas.custody import Position
from serving_loader.specs import Bands, Spec

log = logging.getLogger("stir.loader")

APPLIED = Counter("stir_loader_rows_applied_total", "Rows an incremental refresh wrote or deleted", ["spec", "change"])

Thresholds = dict[str, dict[str, list[float]]]  # group -> threshold column -> thresholds
Versions = dict[str, list[dict[str, list[float]]]]  # group -> the thresholds the served rows were graded with
MAX_WINDOW_SHARE = 0.2  # a window with more changed keys than this share of the table: a snapshot is cheaper
MIN_WINDOW_KEYS = 10_000


@dataclass(frozen=True)
class State:
    upto: datetime  # the table reflects every source row inserted up to this ClickHouse time (less the overlap)
    rows: int
    versions: Versions | None  # None: the spec has no bands, or the last snapshot did not record them
    fingerprint: str | None = None  # of the spec and the warehouse schema the table was built with


class Refused(Exception):
    pass


class NeedsSnapshot(Exception):
    """The window cannot be applied incrementally (too large, or the warehouse's clock went back): swap whole."""


class Concurrent(Exception):
    """Another refresh of the same spec moved its window meanwhile: this one is dropped (the next turn goes on)."""


def ensure_state_table(conn: psycopg.Connection[Any], schema: str) -> None:
    """Per spec, what its live table reflects: the warehouse look it was refreshed from (``upto``), the source
    position confirmed before that look (``schemas.custody``: NULL when unknown), its rows, the grade thresholds."""
    s = sql.Identifier(schema)
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.stir_load_state (spec text PRIMARY KEY, "
                         "upto timestamptz NOT NULL, rows bigint NOT NULL, thresholds text, "
                         "updated_at timestamptz NOT NULL DEFAULT now())").format(s))  # fmt: skip
    add_columns(conn, schema, "stir_load_state", ("source_lsn pg_lsn", "source_commit_time timestamptz",
                                                  "accepted_before timestamptz", "confirmed_at timestamptz",
                                                  "fingerprint text"))  # fmt: skip


def add_columns(conn: psycopg.Connection[Any], schema: str, table: str, columns: Iterable[str]) -> None:
    """Add the columns a table lacks. Looked up first: ``ADD COLUMN IF NOT EXISTS`` takes ACCESS EXCLUSIVE even
    when the column is there, and would queue behind any reader of the table at every start."""
    have = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                                       "AND table_name = %s", (schema, table)).fetchall()}  # fmt: skip
    for column in columns:
        if column.split()[0] not in have:
            conn.execute(sql.SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS {}").format(
                sql.Identifier(schema), sql.Identifier(table), sql.SQL(column)))  # fmt: skip


def load_state(conn: psycopg.Connection[Any], schema: str, spec: str) -> State | None:
    row = conn.execute(sql.SQL("SELECT upto, rows, thresholds, fingerprint FROM {}.stir_load_state "
                               "WHERE spec = %s").format(sql.Identifier(schema)), (spec,)).fetchone()  # fmt: skip
    if row is None:
        return None
    return State(row[0], int(row[1]), json.loads(row[2]) if row[2] else None, row[3])


def pg_lsn(lsn: int | None) -> str | None:
    return None if lsn is None else f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def save_state(conn: psycopg.Connection[Any], schema: str, spec: str, upto: datetime, rows: int,
               versions: Versions | None, position: Position | None = None,
               fingerprint: str | None = None) -> None:  # fmt: skip
    """Without a ``position`` the recorded one stays: the table reflects at least as much as it did (the new look
    is a later one)."""
    p = position
    keep = "COALESCE(EXCLUDED.{c}, stir_load_state.{c})"
    kept = ", ".join(f"{c} = " + keep.format(c=c) for c in ("source_lsn", "source_commit_time", "accepted_before",
                                                              "confirmed_at", "fingerprint"))  # fmt: skip
    conn.execute(
        sql.SQL("INSERT INTO {}.stir_load_state (spec, upto, rows, thresholds, source_lsn, source_commit_time, "
                "accepted_before, confirmed_at, fingerprint) VALUES (%s, %s, %s, %s, %s::pg_lsn, %s, %s, %s, %s) "
                "ON CONFLICT (spec) DO UPDATE SET upto = EXCLUDED.upto, rows = EXCLUDED.rows, "
                "thresholds = EXCLUDED.thresholds, " + kept + ", updated_at = now()").format(sql.Identifier(schema)),
        (spec, upto, rows, json.dumps(versions) if versions is not None else None,
         pg_lsn(p.source_lsn) if p else None, p.source_commit_time if p else None,
         p.accepted_before if p else None, p.confirmed_at if p else None, fingerprint),
    )  # fmt: skip


def ch_now(ch: Any) -> datetime:
    value = ch.query("SELECT now64(3, 'UTC')").result_rows[0][0]
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ch_time(t: datetime) -> str:
    return f"toDateTime64('{t.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC')"


def ch_string(v: str) -> str:
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def key_expr(spec: Spec) -> str:
    return spec.key[0] if len(spec.key) == 1 else "(" + ", ".join(spec.key) + ")"


def changed_sql(spec: Spec, since: datetime, upto: datetime, band: str | None) -> str:
    assert spec.incremental is not None
    text = spec.incremental.changed.format(since=ch_time(since), upto=ch_time(upto))
    if band and spec.incremental.bands:
        text += f" UNION DISTINCT SELECT {key_expr(spec)} FROM {spec.incremental.bands.values} AND ({band})"
    return text


# --- bands ----------------------------------------------------------------------------------------------------


def read_thresholds(ch: Any, bands: Bands) -> Thresholds:
    result = ch.query(bands.thresholds)
    names = list(result.column_names)
    out: Thresholds = {}
    for row in result.result_rows:
        got = dict(zip(names, row, strict=True))
        if got[bands.group] is not None:
            out[str(got[bands.group])] = {t: [float(x) for x in got[t]] for t in bands.threshold_columns}
    return out


Moved = dict[str, "set[tuple[str, float, float]] | None"]  # group -> (metric, lo, hi] ranges; None: the whole group


def moved(bands: Bands, versions: Versions, now: Thresholds) -> Moved:
    """Per group, the metric ranges where a row's grade under one of the recorded versions may differ from its
    grade under ``now`` (a grade is decided by ``value > threshold``: it flips for the values in (lo, hi] between
    an old and a new threshold); None for a whole group (new to the table, or graded now and not then)."""
    out: Moved = {}
    for group, current in now.items():
        recorded = versions.get(group)
        if not recorded:
            out[group] = None
            continue
        ranges = _ranges(bands, recorded, current)
        if ranges is None or ranges:
            out[group] = ranges
    return out


def _ranges(bands: Bands, recorded: list[dict[str, list[float]]],
            current: dict[str, list[float]]) -> set[tuple[str, float, float]] | None:  # fmt: skip
    ranges: set[tuple[str, float, float]] = set()
    for old in recorded:
        for tcol, metric in bands.metrics:
            a, b = old.get(tcol, []), current[tcol]
            if a == b:
                continue
            if not a or not b or len(a) != len(b):
                return None
            ranges.update((metric, min(x, y), max(x, y)) for x, y in zip(a, b, strict=True) if x != y)
    return ranges


def band_condition(bands: Bands, versions: Versions, now: Thresholds) -> str | None:
    """ClickHouse condition on ``bands.values`` selecting the rows of ``moved``; None when nothing moved."""
    terms = []
    for group, ranges in sorted(moved(bands, versions, now).items()):
        g = f"{bands.group} = {ch_string(group)}"
        if ranges is None:
            terms.append(g)
        else:
            inner = " OR ".join(f"({m} > {lo!r} AND {m} <= {hi!r})" for m, lo, hi in sorted(ranges))
            terms.append(f"({g} AND ({inner}))")
    return " OR ".join(terms) or None


def strip_thresholds(blocks: Iterable[Any], spec: Spec, bands: Bands, seen: Versions) -> Iterator[list[Any]]:
    """The spec's columns of rows that carry their thresholds after them; every version of the thresholds a
    group's rows were graded with goes into ``seen`` (queries apart may see different ones)."""
    width, gi = len(spec.columns), spec.column_names.index(bands.group)
    tcols = bands.threshold_columns
    for block in blocks:
        out = []
        for row in block:
            out.append(row[:width])
            group = row[gi]
            if group is not None:
                graded = {t: [float(x) for x in row[width + j]] for j, t in enumerate(tcols)}
                versions = seen.setdefault(str(group), [])
                if graded not in versions:
                    versions.append(graded)
        yield out


def next_versions(now: Thresholds, fetched: Versions) -> Versions:
    """What the served rows were graded with after a refresh: the thresholds looked at (every row not fetched
    grades the same under them), and those the fetched rows came with where they differ."""
    out: Versions = {}
    for group in now.keys() | fetched.keys():
        versions = [now[group]] if group in now else []
        versions += [v for v in fetched.get(group, []) if v not in versions]
        out[group] = versions
    return out


# --- the refresh ----------------------------------------------------------------------------------------------


@dataclass
class Applied:
    keys: int = 0  # keys looked at
    written: int = 0  # rows inserted or updated
    inserted: int = 0
    deleted: int = 0
    rows_after: int = 0
    upto: datetime | None = None
    fetch_s: float = 0.0
    apply_s: float = 0.0


def refresh(spec: Spec, ch: Any, conn: psycopg.Connection[Any], schema: str, state: State, overlap_s: float,
            check: Callable[[Any], tuple[str, str] | None], skip: Callable[[Any, tuple[str, str]], None],
            refuse: Callable[[int, int], str | None], block_rows: int,
            position: Position | None = None) -> Applied:  # fmt: skip
    """One incremental refresh of ``spec`` (see the module's doc). ``check``/``skip`` leave out a row PostgreSQL
    cannot hold (its key is deleted, as a snapshot would leave it out); ``refuse`` is the row-ratio guard (new
    rows, live rows) -> reason; raises Refused with the reason, nothing applied."""
    inc = spec.incremental
    assert inc is not None
    t0 = time.perf_counter()
    out = Applied()
    upto = ch_now(ch)
    if upto < state.upto:
        raise NeedsSnapshot(f"the warehouse's clock ({upto}) is behind the last refresh's ({state.upto})")
    since = state.upto - timedelta(seconds=overlap_s)
    now: Thresholds = {}
    band = None
    if inc.bands is not None:
        now = read_thresholds(ch, inc.bands)
        band = band_condition(inc.bands, state.versions or {}, now)
    changed = changed_sql(spec, since, upto, band)
    ke = key_expr(spec)
    keys = {tuple(r) for r in ch.query(f"SELECT DISTINCT {ke} FROM ({changed})").result_rows}
    out.keys = len(keys)
    if len(keys) > max(MIN_WINDOW_KEYS, MAX_WINDOW_SHARE * state.rows):
        raise NeedsSnapshot(f"{len(keys)} changed keys of {state.rows} rows")
    rows: dict[tuple[Any, ...], Any] = {}
    fetched: Versions = {}
    if keys:
        query = inc.bands.query if inc.bands is not None else spec.query
        kidx = [spec.column_names.index(k) for k in spec.key]
        with ch.query_row_block_stream(f"SELECT * FROM ({query}) WHERE {ke} IN ({changed})",
                                       settings={"max_block_size": block_rows}) as stream:  # fmt: skip
            blocks: Iterable[Any] = iter(stream)
            if inc.bands is not None:
                blocks = strip_thresholds(blocks, spec, inc.bands, fetched)
            for block in blocks:
                for row in block:
                    rows[tuple(row[i] for i in kidx)] = row  # one row per key (a key twice: the last)
    missing = [k for k in keys if k not in rows]
    if missing:  # a merge between the two queries can drop a windowed row: look those keys up by name
        _lookup(spec, ch, missing, rows, fetched, block_rows)
    for k, row in list(rows.items()):
        problem = check(row)
        if problem is not None:
            skip(row, problem)
            del rows[k]
    # a key PostgreSQL cannot hold is not in the table: nothing to delete (its COPY would fail every refresh)
    gone = [k for k in keys if k not in rows and not any(type(v) is str and "\x00" in v for v in k)]
    out.fetch_s = time.perf_counter() - t0
    versions = next_versions(now, fetched) if inc.bands is not None else None
    t1 = time.perf_counter()
    with conn.transaction():
        # the live table first, then the state row, as a swap takes them: a refresh beside a rebuild or another
        # loader cannot deadlock; a window moved meanwhile drops this refresh
        conn.execute(sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(sql.Identifier(schema, spec.name)))
        now_upto = conn.execute(sql.SQL("SELECT upto FROM {}.stir_load_state WHERE spec = %s FOR UPDATE").format(
            sql.Identifier(schema)), (spec.name,)).fetchone()  # fmt: skip
        if now_upto is None or now_upto[0] != state.upto:
            raise Concurrent(f"{spec.name}: another refresh moved the window meanwhile")
        if rows or gone:
            _apply(conn, spec, schema, list(rows.values()), gone, out)
        out.rows_after = state.rows - out.deleted + out.inserted
        reason = refuse(out.rows_after, state.rows)
        if reason is not None:
            raise Refused(reason)
        save_state(conn, schema, spec.name, upto, out.rows_after, versions, position, state.fingerprint)
    out.apply_s = time.perf_counter() - t1
    out.upto = upto
    APPLIED.labels(spec.name, "written").inc(out.written)
    APPLIED.labels(spec.name, "deleted").inc(out.deleted)
    return out


LOOKUP_BYTES = 16_000  # keys per lookup query, by size (a query parameter travels in the URL)


def _batches(names: list[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for n in names:
        if batch and size + len(n) + 4 > LOOKUP_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(n)
        size += len(n.encode()) + 4
    if batch:
        yield batch


def _lookup(spec: Spec, ch: Any, keys: list[tuple[Any, ...]], rows: dict[tuple[Any, ...], Any], fetched: Versions,
            block_rows: int) -> None:  # fmt: skip
    """The current rows of ``keys`` (by name, not by the window) into ``rows``: a key without one is gone."""
    inc = spec.incremental
    assert inc is not None and len(spec.key) == 1
    query = inc.bands.query if inc.bands is not None else spec.query
    for names in _batches([str(k[0]) for k in keys]):
        text = f"SELECT * FROM ({query}) WHERE has({{keys:Array(String)}}, {spec.key[0]})"
        settings = {"max_block_size": block_rows}
        with ch.query_row_block_stream(text, parameters={"keys": names}, settings=settings) as stream:
            blocks: Iterable[Any] = iter(stream)
            if inc.bands is not None:
                blocks = strip_thresholds(blocks, spec, inc.bands, fetched)
            kidx = spec.column_names.index(spec.key[0])
            for block in blocks:
                for row in block:
                    rows[(row[kidx],)] = row


def _apply(conn: psycopg.Connection[Any], spec: Spec, schema: str, rows: list[Any], gone: list[tuple[Any, ...]],
           out: Applied) -> None:  # fmt: skip
    live = sql.Identifier(schema, spec.name)
    types = dict(spec.columns)
    names = spec.column_names
    ident = [sql.Identifier(c) for c in names]
    key = [sql.Identifier(c) for c in spec.key]
    decl = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in spec.columns)
    kdecl = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c])) for c in spec.key)
    conn.execute(sql.SQL("CREATE TEMP TABLE stir_stage ({}) ON COMMIT DROP").format(decl))
    conn.execute(sql.SQL("CREATE TEMP TABLE stir_gone ({}) ON COMMIT DROP").format(kdecl))
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY stir_stage ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.SQL(", ").join(ident))) as copy:  # fmt: skip
            copy.set_types(spec.pg_types)
            for row in rows:
                copy.write_row(row)
        with cur.copy(sql.SQL("COPY stir_gone FROM STDIN (FORMAT BINARY)")) as copy:
            copy.set_types([types[c] for c in spec.key])
            for k in gone:
                copy.write_row(k)
        match = sql.SQL(" AND ").join(sql.SQL("t.{c} = g.{c}").format(c=c) for c in key)
        cur.execute(sql.SQL("DELETE FROM {} AS t USING stir_gone AS g WHERE {}").format(live, match))
        out.deleted = max(cur.rowcount, 0)
        rest = [sql.Identifier(c) for c in names if c not in spec.key]
        comma = sql.SQL(", ")
        on_conflict: sql.Composable = sql.SQL("DO NOTHING")  # the key is the whole row
        if rest:  # an update only where a value differs: an unchanged row is not rewritten
            on_conflict = sql.SQL("DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
                comma.join(sql.SQL("{c} = EXCLUDED.{c}").format(c=c) for c in rest),
                comma.join(sql.SQL("t.{}").format(c) for c in rest),
                comma.join(sql.SQL("EXCLUDED.{}").format(c) for c in rest),
            )
        upsert = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM stir_stage ON CONFLICT ({}) {} RETURNING (xmax = 0)")
        cur.execute(upsert.format(live, comma.join(ident), comma.join(ident), comma.join(key), on_conflict))
        flags = cur.fetchall()
        out.written = len(flags)
        out.inserted = sum(1 for (f,) in flags if f)
