"""The project's PostgreSQL cluster does logical decoding with pgoutput."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.pgoutput import decode

pytestmark = pytest.mark.integration


def test_server_settings_for_cdc(stack):
    with psycopg.connect(stack.dsn()) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('wal_level','max_replication_slots','max_wal_senders','max_slot_wal_keep_size','listen_addresses')"
            ).fetchall()
        )
        assert settings["wal_level"] == "logical"
        assert int(settings["max_replication_slots"]) >= 10
        assert int(settings["max_wal_senders"]) >= 10
        assert int(settings["max_slot_wal_keep_size"]) > 0  # bounded: a dead slot cannot fill the disk
        assert settings["listen_addresses"] == "127.0.0.1"
        assert conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 150000


def test_pgoutput_slot_returns_changes(stack, uid):
    table, pub, slot = f"lr_{uid}", f"pub_{uid}", f"slot_{uid}"
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, followers bigint)")
        conn.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        conn.execute(f"CREATE PUBLICATION {pub} FOR TABLE {table}")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        try:
            with conn.transaction():
                conn.execute(f"INSERT INTO {table} VALUES (1, 'ana', 100), (2, 'bo', NULL)")
            conn.execute(f"UPDATE {table} SET followers = 150 WHERE id = 1")
            conn.execute(f"DELETE FROM {table} WHERE id = 2")
            rows = conn.execute(
                "SELECT data FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, "
                "'proto_version', '1', 'publication_names', %s)",
                (slot, pub),
            ).fetchall()
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            conn.execute(f"DROP PUBLICATION {pub}")
            conn.execute(f"DROP TABLE {table}")

    kinds, changes = decode([bytes(r[0]) for r in rows])
    # three transactions, each framed by Begin/Commit; the relation is described before first use
    assert kinds.count("B") == 3 and kinds.count("C") == 3
    assert kinds.index("R") < kinds.index("I")
    assert [(c.kind, c.relation) for c in changes] == [
        ("insert", f"public.{table}"),
        ("insert", f"public.{table}"),
        ("update", f"public.{table}"),
        ("delete", f"public.{table}"),
    ]
    assert changes[0].new == {"id": "1", "name": "ana", "followers": "100"}
    assert changes[1].new == {"id": "2", "name": "bo", "followers": None}
    assert changes[2].old == {"id": "1", "name": "ana", "followers": "100"}  # full before-image
    assert changes[2].new == {"id": "1", "name": "ana", "followers": "150"}
    assert changes[3].old == {"id": "2", "name": "bo", "followers": None}
