"""The PostgreSQL migration runner for the OLTP source schema (``schemas/oltp/NNNN_*.sql``).

History lives in ``stir_schema_history``; each migration runs in its own transaction together with its
history row; an advisory lock keeps two runners from interleaving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from schemas.migrations import Applied, Migration, StatusRow, discover, pending, status

OLTP_DIR = Path(__file__).with_name("oltp")
LOCK_KEY = 0x5717_0001  # pg_advisory_lock key of this runner

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS stir_schema_history (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
)
"""


def _applied(conn: psycopg.Connection) -> list[Applied]:
    conn.execute(HISTORY_DDL)
    rows = conn.execute("SELECT version, name, checksum FROM stir_schema_history ORDER BY version").fetchall()
    return [Applied(v, n, c) for v, n, c in rows]


def migrate(
    dsn: str, directory: Path = OLTP_DIR, on_applied: Callable[[Migration, float], None] = lambda _m, _s: None
) -> list[Migration]:
    """Apply every pending migration; returns those applied (empty when up to date)."""
    available = discover(directory)
    done: list[Migration] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            for m in pending(available, _applied(conn)):
                t0 = time.monotonic()
                with conn.transaction():
                    conn.execute(m.sql.encode())  # bytes: no client-side parameter parsing of the SQL text
                    conn.execute(
                        "INSERT INTO stir_schema_history (version, name, checksum, duration_ms)"
                        " VALUES (%s, %s, %s, %s)",
                        (m.version, m.name, m.checksum, int((time.monotonic() - t0) * 1000)),
                    )
                done.append(m)
                on_applied(m, time.monotonic() - t0)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return done


def migration_status(dsn: str, directory: Path = OLTP_DIR) -> list[StatusRow]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return status(discover(directory), _applied(conn))
