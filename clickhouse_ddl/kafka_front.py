"""The Kafka engine in front of each source table: ``<e>_kafka`` (``ENGINE = Kafka``) → ``<e>_kafka_mv`` →
``<e>_queue``, on a ClickHouse server and in the embedded warehouse alike.

The migrations declare each source as a ``Null`` table with the Kafka coordinates as ordinary columns
(``<e>_queue``), read by the migration's views (its target's MV and the error view into ``ingest_errors``). The
front is created after the migrations, per source: first the Kafka table, which reads nothing while no view
depends on it, then its one view into the queue table. So the engine never streams while only some of the
queue's views exist (creating an ``ENGINE = Kafka`` source and then its views one by one lets the engine consume
into the views created so far, and the others lose those rows). :func:`migrate_behind_fronts` drops every front
before the migrations run (the consumer groups keep their offsets) and makes them again after them, from the
current contract and settings.

Each source reads with its own consumer group, ``<kafka_group>.<queue table>`` (the engine commits per table;
``WarehouseSettings.reading`` lists them).
"""

from __future__ import annotations

from typing import Any, Protocol

from clickhouse_ddl.columns import META_COLUMNS, columns
from clickhouse_ddl.render import KafkaSource, Rendering, Source, kafka_engine, on_cluster, quote
from clickhouse_ddl.runner import all_sources, migrate
from schemas.migrations import Migration


class Backend(Protocol):
    def command(self, sql: str) -> None: ...

    def rows(self, sql: str) -> list[list[Any]]: ...


def base(source: Source) -> str:
    return source.table.removesuffix("_queue")


def front(source: Source, kafka: KafkaSource) -> list[str]:
    """The two statements that put the Kafka engine in front of ``source`` (both re-runnable)."""
    name = base(source)
    cols = ",\n".join(f"    {c.name} {c.wire_type}" for c in columns(source.topic))
    select = ", ".join([c.name for c in columns(source.topic)] + [n for n, _ in META_COLUMNS])
    return [
        f"CREATE TABLE IF NOT EXISTS {name}_kafka\n(\n{cols}\n)\n{kafka_engine(source.table, source.topic, kafka)}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}_kafka_mv TO {source.table} AS\n"
        f"SELECT {select}\nFROM {name}_kafka",
    ]


def _run(backend: Backend, stmt: str, cluster: str) -> None:
    backend.command(on_cluster(stmt, cluster) if cluster else stmt)


def attach(backend: Backend, sources: list[Source], kafka: KafkaSource, cluster: str = "") -> None:
    """Create the missing fronts (after the migrations)."""
    for source in sources:
        for stmt in front(source, kafka):
            _run(backend, stmt, cluster)


def detach(backend: Backend, sources: list[Source], cluster: str = "") -> None:
    """Drop the fronts, each view before its Kafka table (a front without its view reads and commits nothing);
    their consumer groups keep their offsets."""
    for source in sources:
        _run(backend, f"DROP VIEW IF EXISTS {base(source)}_kafka_mv", cluster)
    for source in sources:
        _run(backend, f"DROP TABLE IF EXISTS {base(source)}_kafka", cluster)


class LegacySources(RuntimeError):
    """Source tables of an older rendering are Kafka engine tables themselves: a front's view inserting into one
    would write every row it reads back to the topic."""


def legacy_sources(backend: Backend) -> list[str]:
    """The source tables (``<e>_queue``) of the current database whose engine is ``Kafka``."""
    names = ", ".join(quote(s.table) for s in all_sources())
    found = backend.rows("SELECT name FROM system.tables WHERE database = currentDatabase() "
                         f"AND engine = 'Kafka' AND name IN ({names}) ORDER BY name")  # fmt: skip
    return [str(r[0]) for r in found]


def migrate_behind_fronts(backend: Backend, rendering: Rendering, kafka: KafkaSource,
                          cluster: str = "") -> list[Migration]:  # fmt: skip
    """Apply the pending migrations with every front dropped, then make the fronts again. Refuses, changing
    nothing, a database whose source tables an older rendering made as Kafka tables."""
    if cluster and rendering != "server":
        raise ValueError("a cluster needs a ClickHouse server (STIR_CH_URL)")
    legacy = legacy_sources(backend)
    if legacy:
        raise LegacySources(
            f"{len(legacy)} source tables are Kafka engine tables of an older rendering ({', '.join(legacy)}); "
            "the Kafka engine now reads through <e>_kafka fronts into Null source tables. Migrate a new "
            "database (STIR_CH_DATABASE) and fill it with `stir replay`, or drop these tables and their views "
            "and re-create them from their migrations"
        )
    detach(backend, all_sources(), cluster)
    done = migrate(backend, rendering, cluster=cluster)
    attach(backend, all_sources(), kafka, cluster)
    return done
