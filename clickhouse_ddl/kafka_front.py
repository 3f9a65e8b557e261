"""The Kafka engine in front of each source table: ``<e>_kafka`` (``ENGINE = Kafka``) → ``<e>_kafka_mv`` →
``<e>_queue``.

The migrations declare each source as a ``Null`` table with the Kafka coordinates as ordinary columns
(``<e>_queue``), read by the migration's views (its target's MV and the error view into ``ingest_errors``). The
front is created after the migrations, per source: first the Kafka table, which reads nothing while no view
depends on it, then its one view into the queue table. So the engine never streams while only some of the
queue's views exist (creating an ``ENGINE = Kafka`` source and then its views one by one lets the engine consume
into the views created so far, and the others lose those rows). Before migrations that declare a source run, its
front's view is dropped (:func:`pause`: a front without its view reads nothing and commits nothing), and the
attach after them makes it again.

Each source reads with its own consumer group, ``<kafka_group>.<queue table>`` (the engine commits per table;
``WarehouseSettings.reading`` lists them).
"""

from __future__ import annotations

from typing import Protocol

from clickhouse_ddl.columns import META_COLUMNS, columns
from clickhouse_ddl.render import KafkaSource, Source, source_engine


class Backend(Protocol):
    def command(self, sql: str) -> None: ...


def group_of(kafka_group: str, source: Source) -> str:
    return f"{kafka_group}.{source.table}"


def base(source: Source) -> str:
    return source.table.removesuffix("_queue")


def front(source: Source, kafka: KafkaSource) -> list[str]:
    """The two statements that put the Kafka engine in front of ``source`` (both re-runnable)."""
    name = base(source)
    cols = ",\n".join(f"    {c.name} {c.wire_type}" for c in columns(source.topic))
    engine = source_engine("server", source.table, source.topic, kafka)
    select = ", ".join([c.name for c in columns(source.topic)] + [n for n, _ in META_COLUMNS])
    return [
        f"CREATE TABLE IF NOT EXISTS {name}_kafka\n(\n{cols}\n)\n{engine}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}_kafka_mv TO {source.table} AS\n"
        f"SELECT {select}\nFROM {name}_kafka",
    ]


def attach(backend: Backend, sources: list[Source], kafka: KafkaSource) -> None:
    """Create the missing fronts (after the migrations)."""
    for source in sources:
        for stmt in front(source, kafka):
            backend.command(stmt)


def pause(backend: Backend, sources: list[Source]) -> None:
    """Stop the fronts of ``sources`` from reading (their views go; the next :func:`attach` makes them again)."""
    for source in sources:
        backend.command(f"DROP VIEW IF EXISTS {base(source)}_kafka_mv")


def detach(backend: Backend, sources: list[Source]) -> None:
    """Drop the fronts (the bridge reads the topics instead); their consumer groups keep their offsets."""
    pause(backend, sources)
    for source in sources:
        backend.command(f"DROP TABLE IF EXISTS {base(source)}_kafka")
