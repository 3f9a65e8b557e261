"""What `stir load status` shows: per spec, the live table's rows and the last run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from serving_loader.specs import SPECS


@dataclass(frozen=True)
class SpecStatus:
    spec: str
    interval_s: float
    live_rows: int | None  # None: no live table yet
    finished_at: datetime | None = None
    outcome: str | None = None
    rows: int | None = None
    swap_s: float | None = None
    lock_wait_s: float | None = None  # the last run's, deferrals included
    deferrals: int | None = None
    pending: str | None = None  # a swap deferred now: since when, how often, who holds the table
    mode: str | None = None  # the last recorded run's
    reflects: str | None = None  # the source position the live table reflects (``schemas/custody.py``)


def _exists(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f'{schema}."{table}"',)).fetchone()
    return bool(row and row[0])


def refreshed_since(conn: psycopg.Connection[Any], schema: str, since: datetime) -> set[str]:
    """The specs whose live table reflects a look at the warehouse taken after ``since`` (swapped or upserted)."""
    if not _exists(conn, schema, "stir_load_state"):
        return set()
    query = sql.SQL("SELECT spec FROM {}.stir_load_state WHERE upto > %s").format(sql.Identifier(schema))
    return {r[0] for r in conn.execute(query, (since,)).fetchall()}


def spec_status(conn: psycopg.Connection[Any], schema: str) -> list[SpecStatus]:
    has_runs = _exists(conn, schema, "stir_load_runs")
    out = []
    for spec in SPECS:
        live = None
        if _exists(conn, schema, spec.name):
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(spec.name))
            got = conn.execute(query).fetchone()
            live = int(got[0]) if got else 0
        last = None
        if has_runs:
            last = conn.execute(
                sql.SQL("SELECT finished_at, outcome, rows, swap_s, lock_wait_s, deferrals, mode "
                        "FROM {}.stir_load_runs WHERE spec = %s ORDER BY finished_at DESC LIMIT 1").format(
                    sql.Identifier(schema)),
                (spec.name,),
            ).fetchone()  # fmt: skip
        pending = None
        if _exists(conn, schema, "stir_load_pending"):
            row = conn.execute(
                sql.SQL("SELECT deferred_since, deferrals, holders FROM {}.stir_load_pending WHERE spec = %s").format(
                    sql.Identifier(schema)), (spec.name,)
            ).fetchone()  # fmt: skip
            if row is not None:
                pending = f"since {row[0]:%H:%M:%S}, {row[1]} deferrals, held by {row[2]}"
        reflects = _reflects(conn, schema, spec.name)
        if last is None:
            out.append(SpecStatus(spec.name, spec.interval_s, live, pending=pending, reflects=reflects))
        else:
            out.append(SpecStatus(spec.name, spec.interval_s, live, last[0], last[1], last[2], last[3], last[4],
                                  last[5], pending, last[6], reflects))  # fmt: skip
    return out


def _reflects(conn: psycopg.Connection[Any], schema: str, spec: str) -> str | None:
    if not _exists(conn, schema, "stir_load_state"):
        return None
    row = conn.execute(sql.SQL("SELECT upto, source_commit_time, source_lsn, accepted_before FROM {}.stir_load_state "
                               "WHERE spec = %s").format(sql.Identifier(schema)), (spec,)).fetchone()  # fmt: skip
    if row is None:
        return None
    upto, commit, lsn, accepted = row
    source = f"OLTP commits to {commit:%H:%M:%S.%f}"[:-3] + f" (before LSN {lsn})" if commit else "source unknown"
    events = f", events accepted before {accepted:%H:%M:%S}" if accepted else ""
    return f"{source}{events}; warehouse at {upto:%H:%M:%S}"
