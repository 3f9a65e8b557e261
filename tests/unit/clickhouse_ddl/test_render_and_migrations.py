"""The warehouse DDL: generated from the contracts, one rendering for a server and the embedded warehouse (Null
source tables, the Kafka engine in fronts made after the migrations), parsed and the fronts' Kafka settings
validated by real ClickHouse code (chdb)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from clickhouse_ddl.columns import META_COLUMNS, columns
from clickhouse_ddl.kafka_front import front
from clickhouse_ddl.render import REPLICA_PATH, KafkaSource, on_cluster, render, sources, statements
from clickhouse_ddl.runner import all_sources, available, migrate, rendered
from schemas.registry import contracts

KAFKA = KafkaSource("broker-a:9092,broker-b:9092", "p.", "stir-warehouse", 2, 500)
REQUIRED = ("kafka_format = 'JSONEachRow'", "kafka_handle_error_mode = 'stream'", "kafka_num_consumers = 2",
            "kafka_thread_per_consumer = 1", "kafka_flush_interval_ms = 500", "kafka_poll_timeout_ms = 500",
            "kafka_consumer_reschedule_ms = 20", "kafka_broker_list = 'broker-a:9092,broker-b:9092'")  # fmt: skip


def _rendered() -> list[str]:
    return [s for m in available() for s in statements(render(m.sql))]


def _clustered() -> list[str]:
    return [s for m in available() for s in rendered(m.sql, "stir_replicas")]


def _fronts() -> list[str]:
    return [stmt for src in all_sources() for stmt in front(src, KAFKA)]


def test_a_cluster_rendering_runs_every_statement_on_the_cluster_with_replicated_engines():
    plain, clustered = _rendered(), _clustered()
    assert len(plain) == len(clustered)
    engines = 0
    for p, c in zip(plain, clustered, strict=True):
        name = re.match(r"^(?:CREATE|ALTER|DROP)[A-Z ]* (\w+)", p)
        assert name is not None, p[:80]
        assert c.startswith(f"{p[: name.end()]} ON CLUSTER stir_replicas"), c[:120]
        assert not re.search(r"ENGINE = (?!Replicated)\w*MergeTree", c), c
        engines += c.count("ENGINE = Replicated")
        # nothing else changes: without the cluster clause and the Keeper path, the plain statement
        undo = c.replace(" ON CLUSTER stir_replicas", "").replace("ENGINE = Replicated", "ENGINE = ")
        undo = undo.replace(f"({REPLICA_PATH}, ", "(").replace(f"({REPLICA_PATH})", "")
        assert undo == p
    assert engines == sum(p.count("MergeTree") for p in plain) >= 17
    with pytest.raises(ValueError, match="does not replicate"):
        on_cluster("CREATE TABLE IF NOT EXISTS g (x Int8) ENGINE=GraphiteMergeTree('r') ORDER BY x", "c")
    with pytest.raises(ValueError, match="no cluster form"):
        on_cluster("RENAME TABLE a TO b", "c")
    with pytest.raises(ValueError, match="letters"):
        on_cluster("DROP TABLE IF EXISTS a", "c; DROP DATABASE x")
    with pytest.raises(ValueError, match="STIR_CH_URL"):
        migrate(None, "embedded", cluster="c")


def test_a_cluster_needs_a_server():
    from pydantic import ValidationError

    from clickhouse_ddl.settings import WarehouseSettings

    with pytest.raises(ValidationError, match="STIR_CH_CLUSTER"):
        WarehouseSettings(cluster="replicas")
    assert WarehouseSettings(cluster="replicas", ch_url="https://ch.example:8443").cluster == "replicas"


def test_sources_are_null_tables_with_the_kafka_coordinates_and_their_fronts_carry_the_kafka_settings():
    declared = [stmt for stmt in _rendered() if re.match(r"CREATE TABLE IF NOT EXISTS \w+_queue\n", stmt)]
    assert len(declared) == sum(len(sources(m.sql)) for m in available()) >= len(all_sources()) >= 6
    meta = [f"    {name} {typ}" for name, typ in META_COLUMNS]
    for stmt in declared:
        assert stmt.endswith("ENGINE = Null") and "Kafka" not in stmt
        lines = [ln.rstrip(",") for ln in stmt.splitlines()]
        assert lines[-2 - len(meta) : -2] == meta  # the engine's virtual columns, last
    for src in all_sources():
        table, view = front(src, KAFKA)
        assert table.startswith(f"CREATE TABLE IF NOT EXISTS {src.table.removesuffix('_queue')}_kafka\n")
        assert f"kafka_topic_list = 'p.{src.topic}'" in table
        assert f"kafka_group_name = 'stir-warehouse.{src.table}'" in table
        for setting in REQUIRED:
            assert setting in table, (src.table, setting)
        assert f"TO {src.table} AS" in view


def test_column_lists_come_from_the_contracts():
    for src in all_sources():
        contract = contracts()[src.topic]
        cols = [c.name for c in columns(src.topic)]
        assert cols == contract.field_names
        stmt = next(s for s in _rendered() if s.startswith(f"CREATE TABLE IF NOT EXISTS {src.table}\n"))
        assert [ln.split()[0] for ln in stmt.splitlines()[2:-2] if ln.startswith("    ")][: len(cols)] == cols
    millis = {c.name: c for c in columns("metrics.profile.rolling") if c.millis}
    assert set(millis) == {"event_time", "ingested_at", "as_of"}
    assert millis["ingested_at"].type == "Nullable(DateTime64(3, 'UTC'))"
    assert millis["ingested_at"].wire_type == "Nullable(Int64)"


def test_bad_directives_are_refused():
    with pytest.raises(ValueError, match="no contract"):
        render("{{columns social.nope}}")
    with pytest.raises(ValueError, match="_queue"):
        render("{{source profile_rolling metrics.profile.rolling}}")
    assert sources("{{source a_queue social.scrape.status}}")[0].topic == "social.scrape.status"


CHECK = r"""
import json, sys, chdb.session
stmts = json.load(sys.stdin)
s = chdb.session.Session(sys.argv[1])
s.query("CREATE DATABASE chk ENGINE = Memory")
s.query("USE chk")
out = []
for stmt in stmts["parse"]:
    s.query("SELECT formatQuery(" + "'" + stmt.replace("\\", "\\\\").replace("'", "\\'") + "')")
for stmt in stmts["kafka"]:
    try:
        s.query(stmt)
        out.append("created")
    except Exception as e:
        out.append(str(e))
print(json.dumps(out))
"""


def test_chdb_parses_the_rendering_and_validates_the_fronts_kafka_settings(tmp_path):
    """With chdb imported plainly, its Kafka engine cannot start (its import-time probe shut the streaming
    registry down: 'Shutdown was called'), but it checks every setting first: an unknown setting or a missing
    broker list would fail differently. Runs in a child process (one chdb path per process) against a Memory
    database, so nothing is persisted."""
    kafka = [stmt for stmt in _fronts() if "ENGINE = Kafka" in stmt]
    first = kafka[0].replace("IF NOT EXISTS ", "").split("\n", 1)[1]  # the column list and engine clause
    bad = ["CREATE TABLE bad_setting\n" + first.replace("kafka_thread_per_consumer", "kafka_threads_per_consumer"),
           "CREATE TABLE no_brokers\n" + re.sub(r"kafka_broker_list = '[^']*',\n    ", "", first)]  # fmt: skip
    payload = json.dumps({"parse": _rendered() + _clustered() + _fronts(), "kafka": kafka + bad})
    res = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "chdb")], input=payload, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    outcomes = json.loads(res.stdout.strip().splitlines()[-1])
    assert all("Shutdown was called" in o for o in outcomes[: len(kafka)]), outcomes
    assert "UNKNOWN_SETTING" in outcomes[-2]
    assert "NUMBER_OF_ARGUMENTS_DOESNT_MATCH" in outcomes[-1]
