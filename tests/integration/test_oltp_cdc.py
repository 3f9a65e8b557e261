"""Every OLTP source table's inserts, updates and deletes arrive on its CDC topic with before/after images;
an outbox insert arrives on its routed per-aggregate topic. Real PostgreSQL, Kafka Connect + Debezium, Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from connectors.connect_client import ConnectClient
from connectors.debezium import ConnectorSettings, apply, connector_config, drop
from deploy.local.process import wait_until
from schemas.oltp_migrate import migrate
from schemas.topics import cdc_tables
from tests.support.kafka import consume, delete_topics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# table -> (row inserted, columns then updated); inserted in this order, deleted in reverse
ROWS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "profiles": ({"id": 11, "platform": "instagram", "handle": "ana", "followers": 1000, "category": "food"},
                 {"followers": 1100, "language": "es"}),
    "posts": ({"id": 21, "profile_id": 11, "platform": "instagram", "shortcode": "p21", "post_type": "reel",
               "published_at": T0, "likes": 50, "comments": 5, "views": 900}, {"likes": 75, "views": None}),
    "collections": ({"id": 31, "name": "summer", "owner_id": "u1"}, {"name": "summer 2026"}),
    "collection_items": ({"collection_id": 31, "post_id": 21, "added_at": T0},
                         {"added_at": datetime(2026, 3, 2, tzinfo=UTC)}),
    "scrape_requests": ({"id": 41, "post_id": 21, "flow": "ig_post", "status": "PENDING"},
                        {"status": "FAILED", "attempt": 2, "error": "timeout"}),
    "companies": ({"id": 51, "name": "Acme"}, {"name": "Acme Inc"}),
    "job_positions": ({"id": 61, "company_id": 51, "title": "Data Engineer"}, {"status": "closed"}),
    "processes": ({"id": 71, "position_id": 61, "candidate_name": "bo"}, {"status": "screening"}),
    "interviews": ({"id": 81, "process_id": 71, "stage": "screening", "scheduled_at": T0},
                   {"status": "completed", "completed_at": T0}),
    "outcomes": ({"id": 91, "process_id": 71, "outcome": "offer", "decided_at": T0}, {"notes": "signed"}),
    "tenants": ({"id": 101, "name": "t-one", "plan": "pro"}, {"plan": "enterprise"}),
    "users": ({"id": 111, "tenant_id": 101, "email": "x@example.org"}, {"status": "disabled"}),
}  # fmt: skip
PKS = {"collection_items": ("collection_id", "post_id")}


def _norm(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v


def _same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    for col, want in expected.items():
        got = actual[col]
        if isinstance(want, datetime):
            assert datetime.fromisoformat(got.replace("Z", "+00:00")) == want, col
        else:
            assert got == want, f"{col}: {got!r} != {want!r}"


@pytest.fixture
def cdc(stack, fresh_db, uid):
    migrate(fresh_db)
    cfg = ConnectorSettings(topic_prefix=f"o{uid}.", slot_name=f"slot_{uid}", publication=f"pub_{uid}",
                            snapshot_mode="no_data", heartbeat_interval_ms=1000)  # fmt: skip
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=f"t_{uid}"))

        def slot_active() -> bool:
            with psycopg.connect(fresh_db) as conn:
                row = conn.execute(
                    "SELECT active FROM pg_replication_slots WHERE slot_name=%s", (cfg.slot_name,)
                ).fetchone()
            return bool(row and row[0])

        assert wait_until(slot_active, 60), "replication slot never became active"
        yield cfg, fresh_db
    finally:
        drop(client, cfg, fresh_db)
        client.close()


def test_publication_holds_exactly_the_source_tables(cdc):
    cfg, dsn = cdc
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_publication_tables WHERE pubname=%s", (cfg.publication,)
        ).fetchall()
    assert {r[0] for r in rows} == {*cdc_tables(), "outbox", "debezium_heartbeat"}


def test_every_source_table_streams_create_update_delete(stack, cdc, uid):
    cfg, dsn = cdc
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, (row, _) in ROWS.items():
            cols = list(row)
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, cols)),
                    sql.SQL(", ").join(sql.Placeholder() * len(cols)),
                ),
                [row[c] for c in cols],
            )
        for table, (row, change) in ROWS.items():
            pk = PKS.get(table, ("id",))
            conn.execute(
                sql.SQL("UPDATE {} SET {} WHERE {}").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in change),
                    sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in pk),
                ),
                [*change.values(), *(row[c] for c in pk)],
            )
        for table in reversed(ROWS):
            row = ROWS[table][0]
            pk = PKS.get(table, ("id",))
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(
                    sql.Identifier(table),
                    sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in pk),
                ),
                [row[c] for c in pk],
            )

    topics = [f"{cfg.cdc_topic_prefix}.public.{t}" for t in ROWS]
    try:
        for table, (row, change) in ROWS.items():
            topic = f"{cfg.cdc_topic_prefix}.public.{table}"
            msgs = consume(stack.bootstrap, topic, f"g-{uid}-{table}", count=3, timeout_s=60)
            assert len(msgs) == 3, f"{table}: got {len(msgs)} messages"
            key_col = cdc_tables()[table]
            assert {m.key() for m in msgs} == {str(row[key_col]).encode()}, f"{table}: key is the {key_col} as text"
            c, u, d = (json.loads(m.value()) for m in msgs)
            assert (c["op"], u["op"], d["op"]) == ("c", "u", "d"), table
            assert c["before"] is None and d["after"] is None
            _same(row, c["after"])
            _same(row, u["before"])  # REPLICA IDENTITY FULL: the whole before-image
            updated = {**row, **change}
            _same(updated, u["after"])
            _same(updated, d["before"])
            assert c["source"]["table"] == table and c["source"]["lsn"] < u["source"]["lsn"] < d["source"]["lsn"]
            assert len({m.partition() for m in msgs}) == 1
    finally:
        delete_topics(stack.bootstrap, topics)


def test_outbox_insert_is_routed_to_its_aggregate_topic(stack, cdc, uid):
    cfg, dsn = cdc
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO outbox (aggregatetype, aggregateid, type, payload) VALUES (%s, %s, %s, %s)",
            ("creator", "11", "ProfileVerified", json.dumps({"profile_id": 11, "verified": True})),
        )
    topic = cfg.topic("outbox.creator.events")
    try:
        msgs = consume(stack.bootstrap, topic, f"g-{uid}-outbox", count=1, timeout_s=60)
        assert len(msgs) == 1
        m = msgs[0]
        assert m.key() == b"11"
        assert json.loads(m.value()) == {"profile_id": 11, "verified": True}
        headers = dict(m.headers() or [])
        assert headers["eventType"] == b"ProfileVerified"
        assert headers["id"]  # the outbox row id travels as a header (consumer-side dedup)
    finally:
        delete_topics(stack.bootstrap, [topic])
