"""Render the migration templates: one rendering, for a ClickHouse server and for the embedded warehouse.

A migration is SQL with three generated parts, all taken from the contracts:

- ``{{source <table>_queue <topic>}}`` the source table of a topic plus its error view into ``ingest_errors``:
  a ``Null`` table with the contract's columns in their wire types and the Kafka engine's virtual columns as
  ordinary ones. The Kafka engine reads into it from its front (``<e>_kafka`` → ``<e>_kafka_mv``,
  clickhouse_ddl/kafka_front.py, :func:`kafka_engine`), made after the migrations;
- ``{{columns <topic>}}`` the typed column definitions of the topic's rows (for target tables);
- ``{{select <topic>}}`` the materialized view's select list (converts the wire types).

A server can be a cluster (``STIR_CH_CLUSTER``: one shard of replicas): every DDL statement gets ``ON CLUSTER``
and every ``*MergeTree`` engine becomes its ``Replicated*`` form (Keeper path
``/clickhouse/tables/{shard}/{database}/{table}``, replica ``{replica}``: the servers' macros). Each replica's
front joins the same consumer group, so the replicas share the partitions and replication brings every row to
every replica.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from clickhouse_ddl.columns import META_COLUMNS, columns

Rendering = Literal["server", "embedded"]
DIRECTIVE = re.compile(r"\{\{\s*(source|columns|select)\s+([^}]*?)\s*\}\}")


@dataclass(frozen=True)
class KafkaSource:
    """What a source's Kafka engine front needs to read its topic."""

    bootstrap: str
    topic_prefix: str
    group: str
    num_consumers: int
    flush_interval_ms: int


@dataclass(frozen=True)
class Source:
    table: str
    topic: str


def sources(sql: str) -> list[Source]:
    """The source tables a migration declares."""
    return [Source(*m.group(2).split()) for m in DIRECTIVE.finditer(sql) if m.group(1) == "source"]


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def group_name(kafka_group: str, table: str) -> str:
    """The consumer group of the Kafka engine that reads into the source table ``table`` (one per source)."""
    return f"{kafka_group}.{table}"


def kafka_engine(table: str, topic: str, kafka: KafkaSource) -> str:
    """The engine clause of the Kafka table that reads ``topic`` for the source table ``table``."""
    settings = {
        "kafka_broker_list": quote(kafka.bootstrap),
        "kafka_topic_list": quote(kafka.topic_prefix + topic),
        "kafka_group_name": quote(group_name(kafka.group, table)),
        "kafka_format": "'JSONEachRow'",
        "kafka_handle_error_mode": "'stream'",
        "kafka_num_consumers": str(kafka.num_consumers),
        "kafka_thread_per_consumer": "1",
        "kafka_flush_interval_ms": str(kafka.flush_interval_ms),
        "kafka_poll_timeout_ms": str(kafka.flush_interval_ms),  # a poll never outwaits the flush
        # after a poll that found nothing the consumer sleeps this long before polling again (the engine's
        # default, 500 ms, was most of a row's wait); an empty poll already waits the poll timeout
        "kafka_consumer_reschedule_ms": "20",
    }
    return "ENGINE = Kafka\nSETTINGS " + ",\n    ".join(f"{k} = {v}" for k, v in settings.items())


def _source(table: str, topic: str) -> str:
    cols = [f"    {c.name} {c.wire_type}" for c in columns(topic)] + [f"    {n} {t}" for n, t in META_COLUMNS]
    body = ",\n".join(cols)
    base = table.removesuffix("_queue")
    return (
        f"CREATE TABLE IF NOT EXISTS {table}\n(\n{body}\n)\nENGINE = Null;\n"
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {base}_errors_mv TO ingest_errors AS\n"
        f"SELECT _topic AS topic, _partition AS partition, _offset AS offset, _raw_message AS raw_message,\n"
        f"       _error AS error\nFROM {table}\nWHERE length(_error) > 0"
    )


def render(sql: str) -> str:
    def expand(m: re.Match[str]) -> str:
        kind, args = m.group(1), m.group(2).split()
        if kind == "source":
            if len(args) != 2 or not args[0].endswith("_queue"):
                raise ValueError(f"{{{{source <table>_queue <topic>}}}} expected, got {m.group(0)!r}")
            return _source(args[0], args[1])
        if len(args) != 1:
            raise ValueError(f"{{{{{kind} <topic>}}}} expected, got {m.group(0)!r}")
        if kind == "columns":
            return ",\n    ".join(f"{c.name} {c.type}" for c in columns(args[0]))
        return ",\n    ".join(c.select for c in columns(args[0]))

    return DIRECTIVE.sub(expand, sql)


CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_]+$")
DDL_HEAD = re.compile(
    r"^(CREATE (?:OR REPLACE )?(?:MATERIALIZED )?(?:VIEW|TABLE|FUNCTION)(?: IF NOT EXISTS)?|ALTER TABLE|"
    r"DROP (?:TABLE|VIEW|FUNCTION)(?: IF EXISTS)?) ([A-Za-z0-9_.]+)(?=\s|$)"
)
MERGE_TREE = re.compile(
    r"ENGINE = (Replacing|Aggregating|Summing|Collapsing|VersionedCollapsing|)MergeTree(\(([^)]*)\))?"
)
REPLICA_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"


def on_cluster(stmt: str, cluster: str) -> str:
    """``stmt`` for every replica of ``cluster``: ``ON CLUSTER`` after the object's name, replicated engines.
    A statement that is not DDL the migrations use is refused (a new kind needs its cluster form here)."""
    if not CLUSTER_NAME.match(cluster):
        raise ValueError(f"cluster name {cluster!r}: letters, digits and _ only")
    head = DDL_HEAD.match(stmt)
    if head is None:
        if stmt.startswith(("INSERT ", "SELECT ", "OPTIMIZE ")):
            return stmt
        raise ValueError(f"no cluster form for this statement: {stmt.splitlines()[0][:120]!r}")
    stmt = f"{head.group(1)} {head.group(2)} ON CLUSTER {cluster}{stmt[head.end() :]}"

    def replicated(m: re.Match[str]) -> str:
        args = m.group(3) or ""
        return f"ENGINE = Replicated{m.group(1)}MergeTree({REPLICA_PATH}{', ' + args if args.strip() else ''})"

    out = MERGE_TREE.sub(replicated, stmt)
    if re.search(r"ENGINE\s*=\s*(?!Replicated)\w*MergeTree", out):
        raise ValueError(f"an engine the cluster rendering does not replicate: {out.splitlines()[0][:120]!r}")
    return out


def statements(sql: str) -> list[str]:
    """Split rendered SQL into statements (``;`` at the end of a line; comments dropped)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    parts = re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE)
    return [p.strip() for p in parts if p.strip()]
