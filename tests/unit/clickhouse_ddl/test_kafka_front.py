"""The Kafka engine's fronts on the migrated embedded warehouse (chdb in a child process; the broker address is
unreachable, so nothing is read): one Kafka table and one view per source, into the queue table the migration's
views read; the migrations run with every front dropped, and each front is made again from the current contract
and settings (one left by an older contract is replaced)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from clickhouse_ddl.kafka_front import front
from clickhouse_ddl.render import KafkaSource, Source, group_name
from clickhouse_ddl.runner import MIGRATIONS_DIR, all_sources

ROOT = Path(__file__).parents[3]

RECORDING = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from clickhouse_ddl.backends import ChdbBackend

class Recording(ChdbBackend):
    def command(self, sql):
        log.append(sql)
        super().command(sql)

log = []
b = Recording(Path(sys.argv[2]), "marts")
"""

CHILD = (
    RECORDING
    + r"""
from clickhouse_ddl.kafka_front import attach
from clickhouse_ddl.render import KafkaSource
from clickhouse_ddl.runner import all_sources, migrate
from clickhouse_ddl.settings import WarehouseSettings
from clickhouse_ddl.warehouse import prepare

early = Path(sys.argv[3])
migrate(b, "embedded", directory=early)
attach(b, all_sources(early), KafkaSource("127.0.0.1:9", "t.", "g", 1, 250))
# a front left by an older contract: a column less, no view
b.command("DROP VIEW profile_snapshot_kafka_mv")
b.command("DROP TABLE profile_snapshot_kafka")
b.command("CREATE TABLE profile_snapshot_kafka (profile_id String) ENGINE = Kafka SETTINGS "
          "kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 't.x', kafka_group_name = 'g.x', "
          "kafka_format = 'JSONEachRow'")
log.clear()
settings = WarehouseSettings(topic_prefix="t.", kafka_group="g", kafka_flush_interval_ms=300,
                             kafka_bootstrap="127.0.0.1:9")
prepare(b, settings)
rows = b.rows("SELECT name, engine, arrayStringConcat(dependencies_table, ','), engine_full FROM system.tables "
              "WHERE database = 'marts' AND (name LIKE '%_kafka' OR name LIKE '%_kafka_mv' OR name LIKE '%_queue') "
              "ORDER BY name")
print(json.dumps({"log": log, "tables": rows}))
"""
)


def test_prepare_migrates_with_every_front_dropped_and_makes_them_again(tmp_path):
    early = tmp_path / "early"
    early.mkdir()
    for f in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(f.name[:4]) < 29:  # 0029 re-creates four queue tables
            shutil.copy(f, early)
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(tmp_path / "chdb"), str(early)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    tables = {name: (engine, deps, full) for name, engine, deps, full in out["tables"]}
    for s in all_sources():
        name = s.table.removesuffix("_queue")
        assert tables[s.table][0] == "Null"
        assert tables[f"{name}_kafka"][:2] == ("Kafka", f"{name}_kafka_mv")  # the front's one view
        assert "kafka_flush_interval_ms = 300" in tables[f"{name}_kafka"][2]  # made with the current settings
        assert tables[f"{name}_kafka_mv"][0] == "MaterializedView"
        assert f"{name}_errors_mv" in tables[s.table][1].split(",")  # the migration's views read the queue
    log: list[str] = out["log"]
    first_migration = next(i for i, sql in enumerate(log) if "_kafka" not in sql)
    last_migration = max(i for i, sql in enumerate(log) if "stir_schema_history" in sql)
    dropped = [sql for sql in log[:first_migration] if sql.startswith("DROP VIEW IF EXISTS")]
    assert len(dropped) == len(all_sources())  # nothing read while the migrations ran
    assert all("_kafka" in sql for sql in log[last_migration + 1 :])  # the fronts came after them


def test_a_front_reads_its_topic_with_its_own_group():
    kafka = KafkaSource("b:9092", "p.", "wh", 2, 250)
    table, view = front(Source("post_rolling_queue", "metrics.post.rolling"), kafka)
    assert "ENGINE = Kafka" in table and "kafka_topic_list = 'p.metrics.post.rolling'" in table
    assert f"kafka_group_name = '{group_name('wh', 'post_rolling_queue')}'" in table
    assert "kafka_group_name = 'wh.post_rolling_queue'" in table and "kafka_num_consumers = 2" in table
    assert view.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS post_rolling_kafka_mv TO post_rolling_queue")
    assert "_raw_message, _error" in view


LEGACY_CHILD = (
    RECORDING
    + r"""
from clickhouse_ddl.kafka_front import LegacySources, migrate_behind_fronts
from clickhouse_ddl.render import KafkaSource

# a source table as an older rendering made it on a server: the Kafka engine table itself
b.command("CREATE TABLE profile_snapshot_queue (profile_id String) ENGINE = Kafka SETTINGS "
          "kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 't.x', kafka_group_name = 'g.x', "
          "kafka_format = 'JSONEachRow'")
log.clear()
try:
    migrate_behind_fronts(b, "server", KafkaSource("127.0.0.1:9", "t.", "g", 1, 100))
    out = {"refused": None}
except LegacySources as exc:
    out = {"refused": str(exc)}
out["log"] = log
print(json.dumps(out))
"""
)


def test_a_database_with_kafka_engine_source_tables_is_refused_untouched(tmp_path):
    """A front's view into a Kafka table would write each row it reads back to the topic, for ever."""
    done = subprocess.run([sys.executable, "-c", LEGACY_CHILD, str(ROOT), str(tmp_path / "chdb")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["refused"] and "profile_snapshot_queue" in out["refused"] and "stir replay" in out["refused"]
    assert out["log"] == []  # nothing dropped, migrated or created
