"""kill -9 of Kafka Connect while PostgreSQL commits a steady stream of rows: after Connect restarts, the
connector resumes from its stored offsets, every committed row reaches its CDC topic (at-least-once: a few may
come twice), the replication slot is still there and its lag drains."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
from confluent_kafka import Consumer

from connectors.connect_client import ConnectClient
from connectors.debezium import ConnectorSettings, apply, connector_config, drop
from deploy.local.process import wait_until
from deploy.local.services import Connect
from deploy.local.stack import up
from schemas.oltp_migrate import migrate
from tests.support.kafka import delete_topics

pytestmark = [pytest.mark.integration, pytest.mark.faults]
ROWS = 3000


def _slot(dsn: str, slot: str) -> tuple[bool, int] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                           "FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()  # fmt: skip
    return (bool(row[0]), int(row[1])) if row else None


def test_connect_sigkill_loses_no_change_and_the_slot_drains(stack, fresh_db, uid):
    migrate(fresh_db)
    cfg = ConnectorSettings(topic_prefix=f"ck{uid}.", slot_name=f"slot_{uid}", publication=f"pub_{uid}",
                            snapshot_mode="no_data", heartbeat_interval_ms=1000)  # fmt: skip
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    written: list[int] = []
    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=f"t_{uid}"))
        assert wait_until(lambda: (_slot(fresh_db, cfg.slot_name) or (False, 0))[0], 60), "slot never active"

        def writer() -> None:
            with psycopg.connect(fresh_db, autocommit=True) as conn:
                for i in range(1, ROWS + 1):
                    conn.execute("INSERT INTO profiles (id, platform, handle) VALUES (%s, 'instagram', %s)",
                                 (i, f"h{i}"))  # fmt: skip
                    written.append(i)
                    if i % 50 == 0:
                        time.sleep(0.05)  # a steady ~1k commits/s rather than one burst

        t = threading.Thread(target=writer)
        t.start()
        assert wait_until(lambda: len(written) >= ROWS // 3, 60, 0.01)
        Connect(stack).proc.kill()  # kill -9 mid-stream
        killed_at = len(written)
        up(stack)  # Connect back; the connector's config and offsets are in Kafka
        client.wait_running(cfg.name, 120)
        t.join(120)
        assert len(written) == ROWS and killed_at < ROWS

        c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"ck-{uuid.uuid4()}",
                      "auto.offset.reset": "earliest"})  # fmt: skip
        c.subscribe([f"{cfg.cdc_topic_prefix}.public.profiles"])
        seen: Counter[int] = Counter()
        deadline = time.monotonic() + 120
        while len(seen) < ROWS and time.monotonic() < deadline:
            for m in c.consume(1000, 1.0):
                if m.error() is None and m.value():
                    seen[json.loads(m.value())["after"]["id"]] += 1
        c.close()
        assert set(seen) == set(range(1, ROWS + 1))  # nothing lost
        dup = sum(n - 1 for n in seen.values())
        assert wait_until(lambda: (_slot(fresh_db, cfg.slot_name) or (False, 1 << 40))[1] < 64 * 1024, 60, 0.5)
        active, lag = _slot(fresh_db, cfg.slot_name) or (False, -1)
        assert active
        print(f"\nkilled after {killed_at} of {ROWS} commits; all {ROWS} arrived, {dup} redelivered; slot lag {lag} B")
    finally:
        if Connect(stack).proc.running() is None:
            up(stack)
        drop(client, cfg, fresh_db)
        client.close()
        delete_topics(stack.bootstrap, [f"{cfg.cdc_topic_prefix}.public.profiles"])
