"""A Debezium PostgreSQL connector on a test table emits create, update and delete with before/after."""

from __future__ import annotations

import json

import psycopg
import pytest

from connectors.connect_client import ConnectClient
from deploy.local.process import wait_until
from schemas.roles import CDC
from tests.support.kafka import consume, delete_topics

pytestmark = pytest.mark.integration


def _slot_active(dsn: str, slot: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    return bool(row and row[0])


def test_debezium_emits_create_update_delete(stack, uid):
    table, pub, slot, prefix, name = f"cdc_{uid}", f"pub_{uid}", f"slot_{uid}", f"t{uid}", f"test-pg-{uid}"
    topic = f"{prefix}.public.{table}"
    dsn = stack.dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, handle text NOT NULL, followers bigint, "
            "er numeric(8,3), updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        conn.execute(f"GRANT SELECT ON {table} TO {CDC}")  # the connector's role reads what it publishes
        conn.execute(f"CREATE PUBLICATION {pub} FOR TABLE {table}")

    config = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": stack.bind_host,
        "database.port": stack.pg_port,
        "database.user": CDC,
        # the secret reaches Connect through its FileConfigProvider, never inside the JSON
        "database.password": f"${{file:{stack.connect_secrets_file}:pg.password}}",
        "database.dbname": stack.pg_database,
        "topic.prefix": prefix,
        "slot.name": slot,
        "publication.name": pub,
        "publication.autocreate.mode": "disabled",
        # the broker creates no topic on its own: Connect creates the connector's
        "topic.creation.default.partitions": 1,
        "topic.creation.default.replication.factor": 1,
        "table.include.list": f"public.{table}",
        "snapshot.mode": "no_data",
        "decimal.handling.mode": "string",
        "time.precision.mode": "connect",
        "tombstones.on.delete": "true",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "transforms": "key",
        "transforms.key.type": "org.apache.kafka.connect.transforms.ExtractField$Key",
        "transforms.key.field": "id",
    }
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    try:
        client.apply(name, config)
        client.apply(name, config)  # idempotent: the same PUT again is harmless
        client.wait_running(name, timeout_s=90)
        assert wait_until(lambda: _slot_active(dsn, slot), 60), "replication slot never became active"

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {table} (id, handle, followers, er) VALUES (7, 'ana', 1000, 2.5)")
            conn.execute(f"UPDATE {table} SET followers = 1250, er = 3.125 WHERE id = 7")
            conn.execute(f"DELETE FROM {table} WHERE id = 7")

        msgs = consume(stack.bootstrap, topic, f"g-{uid}", count=4, timeout_s=90)
        assert len(msgs) == 4, f"expected create, update, delete and a tombstone; got {len(msgs)}"
        assert all(m.key() == b"7" for m in msgs)  # ExtractField$Key + string converter: the entity id as text
        c, u, d = (json.loads(m.value()) for m in msgs[:3])
        assert msgs[3].value() is None  # tombstone for compaction

        assert c["op"] == "c" and c["before"] is None
        assert {k: c["after"][k] for k in ("id", "handle", "followers", "er")} == {
            "id": 7, "handle": "ana", "followers": 1000, "er": "2.500",
        }  # fmt: skip
        assert u["op"] == "u"
        assert (u["before"]["followers"], u["before"]["er"]) == (1000, "2.500")
        assert (u["after"]["followers"], u["after"]["er"]) == (1250, "3.125")
        assert u["after"]["handle"] == "ana"
        assert d["op"] == "d" and d["after"] is None
        assert (d["before"]["id"], d["before"]["followers"]) == (7, 1250)
        for ev in (c, u, d):
            assert ev["source"]["table"] == table and ev["source"]["schema"] == "public"
            assert ev["source"]["connector"] == "postgresql"
            assert isinstance(ev["source"]["lsn"], int) and ev["ts_ms"] > 0
        assert c["source"]["lsn"] < u["source"]["lsn"] < d["source"]["lsn"]
    finally:
        client.delete(name)
        client.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_until(lambda: not _slot_active(dsn, slot), 30)
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            )
            conn.execute(f"DROP PUBLICATION IF EXISTS {pub}")
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        delete_topics(stack.bootstrap, [topic])
