"""The embedded warehouse process on a real broker: migrations with history and checksums, the Kafka engine's
rows and error rows, redelivery after a SIGKILL, all read back through ClickHouse's HTTP interface with
clickhouse-connect (the same client a ClickHouse server would get)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from clickhouse_ddl.backends import ConnectBackend
from clickhouse_ddl.runner import all_sources, migrate, migration_status
from deploy.local.pipeline import Pipeline
from deploy.local.process import wait_until
from schemas.migrations import MigrationError
from tests.support.harness import pipeline_env, warehouse_client
from tests.support.kafka import delete_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(stack, tmp_path, uid):
    """The warehouse reading the topics with chdb's own Kafka engine."""
    env = pipeline_env(f"wh{uid}.", tmp_path / "state", "")
    p = Pipeline(tmp_path / "run", env)
    p.start("warehouse")
    client = warehouse_client(env)
    try:
        yield p, client, f"wh{uid}."
    finally:
        client.close()
        p.down(("warehouse",))
        delete_topics(stack.bootstrap, [f"wh{uid}.{s.topic}" for s in all_sources()])


def _status_event(request_id: str, status: str, t: int) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "event_time": t, "ingested_at": None, "source": "test",
            "schema_version": 1, "request_id": request_id, "post_id": "p1", "flow": "instagram_post",
            "status": status, "attempt": 1, "error": None}  # fmt: skip


def _post_row(post_id: str, version: int, likes: int) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "event_time": 1_795_000_000_000 + version, "ingested_at": None,
            "source": "test", "schema_version": 1, "post_id": post_id, "version": version, "profile_id": "9",
            "platform": "instagram", "post_type": "reel", "published_at": 1_794_000_000_000, "likes": likes,
            "comments": 1, "views": None, "plays": None, "engagement": likes + 1, "engagement_rate": None,
            "post_class": "video"}  # fmt: skip


def test_migrations_run_once_and_refuse_an_edited_file(warehouse, tmp_path):
    _, client, _ = warehouse
    backend = ConnectBackend(client)
    assert {r.state for r in migration_status(backend)} == {"applied"}
    assert migrate(backend, "embedded") == []  # the warehouse applied them at start; nothing pending
    edited = tmp_path / "migrations"
    edited.mkdir()
    for f in sorted((Path(__file__).parents[2] / "clickhouse_ddl" / "migrations").glob("*.sql")):
        (edited / f.name).write_text(f.read_text())
    first = sorted(edited.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="file changed after it was applied"):
        migrate(backend, "embedded", directory=edited)


def test_the_engine_inserts_rows_and_sends_bad_messages_to_ingest_errors(stack, warehouse):
    _, client, prefix = warehouse
    now = client.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows[0][0]
    p = Producer({"bootstrap.servers": stack.bootstrap})
    good = [_status_event(f"r{i % 4}", "FAILED" if i % 2 else "COMPLETE", now) for i in range(10)]
    inside_bad, after = _status_event("r9", "COMPLETE", now), _status_event("r8", "FAILED", now)
    topic = prefix + "social.scrape.status"
    p.produce(topic, key=b"p1", value="\n".join(json.dumps(e) for e in good).encode())
    p.produce(topic, key=b"p1", value=b'{"not": "closed"\n' + json.dumps(inside_bad).encode())
    p.produce(topic, key=b"p1", value=json.dumps({**good[1], "attempt": "x"}).encode())
    p.produce(topic, key=b"p1", value=json.dumps(after).encode())
    assert p.flush(30) == 0

    def landed() -> bool:
        return int(client.query("SELECT sum(events) FROM scrape_health WHERE granularity = '1h'").result_rows[0][0]
                   or 0) == 11  # fmt: skip

    assert wait_until(landed, 60, 0.2)  # the message after the bad ones arrived
    errors = client.query("SELECT raw_message, error FROM ingest_errors ORDER BY offset").result_rows
    assert len(errors) == 2
    # a message that does not parse goes whole, with the engine's reason: its valid line too (not in the targets)
    assert errors[0][0].startswith('{"not": "closed"\n') and inside_bad["event_id"] in errors[0][0] and errors[0][1]
    assert '"attempt": "x"' in errors[1][0] and errors[1][1]
    got = dict(client.query("SELECT status, requests FROM scrape_health WHERE granularity = '1m'").result_rows)
    assert got == {"COMPLETE": 2, "FAILED": 3}  # r0..r3 and r8; r9 came only inside the bad message


@pytest.mark.faults
def test_sigkill_redelivery_keeps_latest_state_exact(stack, warehouse):
    """Kill -9 the warehouse while it reads; after the restart the engine re-reads from its last commit, and
    the targets still hold exactly the newest version of each key."""
    pipeline, client, prefix = warehouse
    p = Producer({"bootstrap.servers": stack.bootstrap, "linger.ms": 5})
    expected = {}
    for v in range(1, 41):
        rows = [_post_row(f"post{k}", v, likes=v * 10 + k) for k in range(50)]
        for r in rows:
            expected[r["post_id"]] = (r["version"], r["likes"])
        p.produce(prefix + "metrics.post.rolling", key=b"k", value="\n".join(json.dumps(r) for r in rows).encode())
        if v == 20:
            assert p.flush(30) == 0
            assert wait_until(lambda: client.query("SELECT count() FROM post_rolling").result_rows[0][0] > 0, 60, 0.05)
            pipeline.kill("warehouse")
    assert p.flush(30) == 0
    pipeline.start("warehouse")
    client.close()
    client = warehouse_client(pipeline.env)

    def complete() -> bool:
        return client.query("SELECT min(version) FROM post_rolling FINAL").result_rows[0][0] == 40

    # the killed process's consumers hold their partitions until their session ends (STIR_CH_KAFKA_SESSION_TIMEOUT_MS)
    assert wait_until(complete, 60, 0.2)
    rows = client.query("SELECT post_id, version, likes FROM post_rolling FINAL").result_rows
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert got == expected
    client.close()


def test_delete_range_removes_only_the_range_and_names_a_wrong_column(warehouse):
    """The rebuild runbook's first step as a command: `stir ch delete-range` deletes the rows of [from, to) and
    waits for the mutation; a column that is not a date is refused."""
    import os
    import subprocess
    import sys

    p, client, _ = warehouse
    table = "profile_daily"  # in the client's database (the marts')
    days = ["2026-09-30", "2026-10-01", "2026-10-15", "2026-10-31", "2026-11-01"]
    for d in days:
        client.command(f"INSERT INTO {table} SELECT 'p1', 'instagram', toDate('{d}'), "
                       "argMaxState(toInt64(1), now64(3, 'UTC')), uniqExactState(generateUUIDv4())")  # fmt: skip
    env = {**os.environ, **p.env}

    def stir(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy.cli", "ch", *args], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    res = stir("delete-range", "--table", "profile_daily", "--from", "2026-10-01", "--to", "2026-11-01", "--yes")
    assert res.returncode == 0 and "deleted 3 row(s)" in res.stdout, res.stdout + res.stderr
    left = sorted(str(r[0]) for r in client.query(f"SELECT day FROM {table}").result_rows)
    assert left == ["2026-09-30", "2026-11-01"]
    bad = stir("delete-range", "--table", "profile_daily", "--column", "profile_id", "--from", "2026-10-01",
               "--to", "2026-11-01", "--yes")  # fmt: skip
    assert bad.returncode == 2 and "not a Date" in bad.stderr, bad.stderr
