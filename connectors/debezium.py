"""The Debezium PostgreSQL connector of the OLTP database: its config, publication and registration.

One connector (one replication slot) captures every source table. Keys are the entity id as text
(``message.key.columns`` picks the entity column, ``ExtractField$Key`` unwraps it per key column, the
string key converter writes it), so a profile's CDC rows land on the same partition number as its events.
The outbox table is routed by Debezium's EventRouter to one topic per aggregate type. The publication
lists exactly the source tables: serving tables can never enter it.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from connectors.connect_client import ConnectClient
from schemas.roles import CDC
from schemas.settings import CoreSettings
from schemas.topics import SOURCE_SCHEMA, cdc_tables

OUTBOX_TABLE = "outbox"
HEARTBEAT_TABLE = "debezium_heartbeat"


class ConnectorSettings(CoreSettings):
    """Settings of the CDC connector (env prefix ``STIR_CDC_``; shared fields from ``CoreSettings``). Its
    topics are ``<STIR_TOPIC_PREFIX><STIR_CDC_PREFIX>.public.<table>``; name, slot and publication are scoped
    by the topic prefix unless set."""

    model_config = SettingsConfigDict(env_prefix="STIR_CDC_", extra="ignore")

    name: str = Field("", description="connector name (default: stir-oltp, scoped by the topic prefix)")
    slot_name: str = Field("", pattern=r"^[a-z0-9_]*$", description="replication slot (default: stir_cdc, scoped)")
    publication: str = Field("", pattern=r"^[a-z0-9_]*$", description="publication (default: stir_cdc, scoped)")
    snapshot_mode: str = Field("initial", pattern=r"^(initial|no_data|always|when_needed|initial_only)$",
                               description="Debezium snapshot.mode")  # fmt: skip
    heartbeat_interval_ms: int = Field(10_000, ge=1000, description="Debezium heartbeat interval")
    poll_interval_ms: int = Field(50, ge=1, description="how long Debezium waits for a batch (latency floor)")
    connect_secrets_path: str | None = Field(
        None, description="path of connect-secrets.properties as Connect sees it (default: the state dir's)"
    )
    db_user: str = Field("", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$",
                         description="PostgreSQL role the connector logs in as, password pg.password in "
                         "connect-secrets.properties (default stir_cdc; with STIR_PG_DSN the DSN's user)")  # fmt: skip

    @model_validator(mode="after")
    def _scoped_names(self) -> ConnectorSettings:
        self.name = self.name or self.scoped("stir-oltp", "-")
        self.slot_name = self.slot_name or self.scoped("stir_cdc", "_")
        self.publication = self.publication or self.scoped("stir_cdc", "_")
        return self

    @property
    def outbox_topic(self) -> str:
        """EventRouter's route.topic.replacement: one topic per aggregate type."""
        return self.topic("outbox.${routedByValue}.events")


def connector_config(cfg: ConnectorSettings, dbname: str | None = None) -> dict[str, Any]:
    """The connector's config for the database the settings point at (``dbname``: another on that server)."""
    if cfg.pg_dsn is not None:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(cfg.pg_dsn.get_secret_value())
        host, port = str(info.get("host", "localhost")), int(str(info.get("port", 5432)))
        db = str(info.get("dbname", cfg.pg_database))
        user = cfg.db_user or str(info.get("user", CDC))  # name the CDC role with STIR_CDC_DB_USER
    else:
        host, port, db = cfg.bind_host, cfg.pg_port, cfg.pg_database
        user = cfg.db_user or CDC  # the connector's own role (schemas.roles), never the superuser
    secrets_file = cfg.connect_secrets_path or str(cfg.connect_secrets_file)
    schema = SOURCE_SCHEMA
    keys = cdc_tables()
    tables = [*keys, OUTBOX_TABLE]
    by_key: dict[str, list[str]] = {}
    for table, key in keys.items():
        by_key.setdefault(key, []).append(table)
    topic_prefix = cfg.cdc_topic_prefix
    prefix_re = topic_prefix.replace(".", r"\.")

    config: dict[str, Any] = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": 1,
        "plugin.name": "pgoutput",
        "database.hostname": host,
        "database.port": port,
        "database.user": user,
        "database.password": f"${{file:{secrets_file}:pg.password}}",
        "database.dbname": dbname or db,
        "topic.prefix": topic_prefix,
        "slot.name": cfg.slot_name,
        "publication.name": cfg.publication,
        "publication.autocreate.mode": "disabled",
        "table.include.list": ",".join(f"{schema}.{t}" for t in tables),
        "message.key.columns": ";".join(f"{schema}.{t}:{k}" for t, k in keys.items() if k != "id"),
        "snapshot.mode": cfg.snapshot_mode,
        "heartbeat.interval.ms": cfg.heartbeat_interval_ms,
        "heartbeat.action.query": (
            f"INSERT INTO {schema}.{HEARTBEAT_TABLE} (id, ts) VALUES (1, now()) "
            "ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts"
        ),
        "poll.interval.ms": cfg.poll_interval_ms,
        "producer.override.linger.ms": 5,
        "decimal.handling.mode": "string",
        "time.precision.mode": "adaptive_time_microseconds",
        "tombstones.on.delete": "false",
        "skipped.operations": "t",  # a truncate carries no keys to remove downstream (streams/transforms/cdc.py)
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "topic.creation.default.partitions": cfg.partitions,
        "topic.creation.default.replication.factor": cfg.replication_factor,
        "topic.creation.default.cleanup.policy": "delete",
    }
    transforms = []
    for key, key_tables in by_key.items():
        t = f"key_{key}"
        transforms.append(t)
        config[f"transforms.{t}.type"] = "org.apache.kafka.connect.transforms.ExtractField$Key"
        config[f"transforms.{t}.field"] = key
        config[f"transforms.{t}.predicate"] = f"is_{key}"
        config[f"predicates.is_{key}.type"] = "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
        config[f"predicates.is_{key}.pattern"] = rf"{prefix_re}\.{schema}\.({'|'.join(key_tables)})"
    transforms.append("outbox")
    config["transforms.outbox.type"] = "io.debezium.transforms.outbox.EventRouter"
    config["transforms.outbox.predicate"] = "is_outbox"
    config["transforms.outbox.route.topic.replacement"] = cfg.outbox_topic
    config["transforms.outbox.table.expand.json.payload"] = "true"
    config["transforms.outbox.table.fields.additional.placement"] = "type:header:eventType"
    config["predicates.is_outbox.type"] = "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
    config["predicates.is_outbox.pattern"] = rf"{prefix_re}\.{schema}\.{OUTBOX_TABLE}"
    config["transforms"] = ",".join(transforms)
    config["predicates"] = ",".join([f"is_{k}" for k in by_key] + ["is_outbox"])
    return config


def ensure_publication(dsn: str, cfg: ConnectorSettings) -> list[str]:
    """Create or reset the publication to exactly the source tables (+ outbox, heartbeat). Idempotent."""
    tables = [*cdc_tables(), OUTBOX_TABLE, HEARTBEAT_TABLE]
    idents = sql.SQL(", ").join(sql.Identifier(SOURCE_SCHEMA, t) for t in tables)
    pub = sql.Identifier(cfg.publication)
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (cfg.publication,)).fetchone()
        if exists:
            conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(pub, idents))
        else:
            conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(pub, idents))
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1",
            (cfg.publication,),
        ).fetchall()
    return [r[0] for r in rows]


def apply(
    client: ConnectClient, cfg: ConnectorSettings, dsn: str, config: dict[str, Any], timeout_s: float = 90
) -> dict[str, Any]:
    """Publication, then ``PUT /connectors/<name>/config``, then wait until it and its task are RUNNING."""
    ensure_publication(dsn, cfg)
    client.apply(cfg.name, config)
    return client.wait_running(cfg.name, timeout_s)


def drop(client: ConnectClient, cfg: ConnectorSettings, dsn: str) -> None:
    """Delete the connector, then its slot and publication (for tests and teardown)."""
    client.delete(cfg.name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (cfg.slot_name,)
            ).fetchone()
            if row is None:
                break
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (cfg.slot_name,))
                break
            time.sleep(0.2)
        conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(cfg.publication)))
