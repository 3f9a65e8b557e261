"""Apply the warehouse migrations in order, once, with a history table and checksums (``stir ch migrate``).

A server and the embedded warehouse run the same rendering (the history's ``rendering`` column says which one
applied it). ClickHouse has no transactional DDL: every statement is written to be
re-runnable (``IF NOT EXISTS`` / ``OR REPLACE``), so a migration that failed half-way is simply re-run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from clickhouse_ddl.render import Rendering, Source, on_cluster, quote, render, sources, statements
from schemas.migrations import Applied, Migration, StatusRow, discover, pending, status

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
HISTORY = (
    "CREATE TABLE IF NOT EXISTS stir_schema_history (version UInt32, name String, checksum String, "
    "rendering LowCardinality(String), applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
    "ENGINE = MergeTree ORDER BY version"
)


class Backend(Protocol):
    """A connection to one ClickHouse database (embedded chdb or a server through clickhouse-connect)."""

    def command(self, sql: str) -> None: ...

    def rows(self, sql: str) -> list[list[Any]]: ...


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return discover(directory)


def all_sources(directory: Path = MIGRATIONS_DIR) -> list[Source]:
    """Every source table once (a later migration may re-create one to change its columns)."""
    found = {s.table: s for m in available(directory) for s in sources(m.sql)}
    return list(found.values())


def rendered(sql: str, cluster: str = "") -> list[str]:
    """A migration's statements as they run: rendered, split, and (a cluster) in their ``ON CLUSTER`` form."""
    stmts = statements(render(sql))
    return [on_cluster(s, cluster) for s in stmts] if cluster else stmts


def applied(backend: Backend, cluster: str = "") -> list[Applied]:
    backend.command(on_cluster(HISTORY, cluster) if cluster else HISTORY)
    rows = backend.rows("SELECT version, name, checksum FROM stir_schema_history ORDER BY version")
    return [Applied(int(v), str(n), str(c)) for v, n, c in rows]


def migration_status(backend: Backend, directory: Path = MIGRATIONS_DIR, cluster: str = "") -> list[StatusRow]:
    return status(available(directory), applied(backend, cluster))


def migrate(
    backend: Backend,
    rendering: Rendering,
    directory: Path = MIGRATIONS_DIR,
    cluster: str = "",
) -> list[Migration]:
    """Apply the pending migrations; with ``cluster`` (a server), every statement ``ON CLUSTER`` (replicated
    engines, the history table too), run from any one server of the cluster. The Kafka engine's fronts are not
    theirs: run them with :func:`clickhouse_ddl.kafka_front.migrate_behind_fronts`."""
    if cluster and rendering != "server":
        raise ValueError("a cluster needs a ClickHouse server (STIR_CH_URL)")
    todo = pending(available(directory), applied(backend, cluster))
    for m in todo:
        for stmt in rendered(m.sql, cluster):
            try:
                backend.command(stmt)
            except Exception as exc:
                raise RuntimeError(f"{m.path.name}: {exc}\n--- statement ---\n{stmt}") from exc
        backend.command(
            "INSERT INTO stir_schema_history (version, name, checksum, rendering) VALUES "
            f"({m.version}, {quote(m.name)}, {quote(m.checksum)}, {quote(rendering)})"
        )
    return todo
