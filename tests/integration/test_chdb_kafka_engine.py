"""chdb's own Kafka engine on the real broker, loaded through clickhouse_ddl/chdb_loader.py: a Kafka source →
MV → MergeTree reads every good row, routes a malformed line to the error stream without losing the rows after
it, commits, and reports itself in system.kafka_consumers. Runs in a child process (one chdb per process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.kafka import create_topic, delete_topics

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from clickhouse_ddl.chdb_loader import chdb_session
path, bootstrap, topic, group, want = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
s = chdb_session(path)
s.query("CREATE DATABASE k")
s.query(f"CREATE TABLE k.q (k String, v UInt32) ENGINE = Kafka SETTINGS kafka_broker_list = '{bootstrap}', "
        f"kafka_topic_list = '{topic}', kafka_group_name = '{group}', kafka_format = 'JSONEachRow', "
        "kafka_handle_error_mode = 'stream', kafka_flush_interval_ms = 250, kafka_num_consumers = 2")
s.query("CREATE TABLE k.rows (k String, v UInt32) ENGINE = MergeTree ORDER BY k")
s.query("CREATE TABLE k.errors (raw String, error String, off UInt64) ENGINE = MergeTree ORDER BY off")
s.query("CREATE MATERIALIZED VIEW k.rows_mv TO k.rows AS SELECT k, v FROM k.q WHERE length(_error) = 0")
s.query("CREATE MATERIALIZED VIEW k.errors_mv TO k.errors AS SELECT _raw_message AS raw, _error AS error, "
        "_offset AS off FROM k.q WHERE length(_error) > 0")
print("ready", flush=True)
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    n = int(str(s.query("SELECT count() + (SELECT count() FROM k.errors) FROM k.rows", "CSV")).strip())
    if n >= want:
        break
    time.sleep(0.2)
time.sleep(1)  # the engine commits after the block it flushed
out = {
    "rows": json.loads(str(s.query("SELECT k, v FROM k.rows ORDER BY v", "JSONCompact")))["data"],
    "errors": json.loads(str(s.query("SELECT raw, error FROM k.errors", "JSONCompact")))["data"],
    "consumers": json.loads(str(s.query(
        "SELECT length(assignments.partition_id), num_messages_read, num_commits, length(exceptions.text) "
        "FROM system.kafka_consumers WHERE database = 'k'", "JSONCompact")))["data"],
    "events": json.loads(str(s.query("SELECT name, value FROM system.events WHERE name LIKE 'KafkaRows%'",
                                     "JSONCompact")))["data"],
}
print(json.dumps(out), flush=True)
"""


def test_the_kafka_engine_reads_commits_and_streams_errors(stack, tmp_path, uid):
    topic, group = f"kengine{uid}", f"kengine{uid}"
    create_topic(stack.bootstrap, topic, partitions=2)
    args = [sys.executable, "-c", CHILD, str(ROOT), str(tmp_path / "chdb"), stack.bootstrap, topic, group, "401"]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        p = Producer({"bootstrap.servers": stack.bootstrap})
        for i in range(200):
            p.produce(topic, json.dumps({"k": f"a{i}", "v": i}).encode(), partition=0)
        p.produce(topic, b'{"k": "broken", "v": ', partition=0)
        for i in range(200, 400):
            p.produce(topic, json.dumps({"k": f"a{i}", "v": i}).encode(), partition=i % 2)
        p.flush(30)
        out, err = child.communicate(timeout=150)
        assert child.returncode == 0, err[-2000:]
    finally:
        child.kill()
        delete_topics(stack.bootstrap, [topic])
    result = json.loads(out.strip().splitlines()[-1])
    assert result["rows"] == [[f"a{i}", i] for i in range(400)]  # every good row, the ones after the bad line too
    assert len(result["errors"]) == 1
    raw, error = result["errors"][0]
    assert raw == '{"k": "broken", "v": ' and error
    consumers = result["consumers"]
    assert sum(c[0] for c in consumers) == 2  # two consumers share the two partitions
    assert sum(c[1] for c in consumers) == 401 and all(c[3] == 0 for c in consumers)
    assert sum(c[2] for c in consumers) >= 1
    # what engine_metrics exports as stir_ch_kafka_rows_total: the bad message counts as the one row it becomes
    assert {name: int(value) for name, value in result["events"]} == {"KafkaRowsRead": 401}
