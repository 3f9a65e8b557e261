"""The Kafka engine's fronts on the migrated embedded warehouse (chdb in a child process; the broker address is
unreachable, so nothing is read): one Kafka table and one view per source, into the queue table the migration's
views read; a migration that re-creates a queue table runs with its front paused, and the front comes back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from clickhouse_ddl.kafka_front import front, group_of
from clickhouse_ddl.render import KafkaSource, Source
from clickhouse_ddl.runner import MIGRATIONS_DIR, all_sources

ROOT = Path(__file__).parents[3]

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from clickhouse_ddl.backends import ChdbBackend
from clickhouse_ddl.kafka_front import attach, pause
from clickhouse_ddl.render import KafkaSource, sources
from clickhouse_ddl.runner import all_sources, available, migrate
early, full = Path(sys.argv[3]), Path(sys.argv[4])
b = ChdbBackend(Path(sys.argv[2]), "marts")
kafka = KafkaSource("127.0.0.1:9", "t.", "g", 1, 250)
migrate(b, "embedded", directory=early)
attach(b, all_sources(early), kafka)
later = [m for m in available(full) if m.version > max(x.version for x in available(early))]
pause(b, [s for m in later for s in sources(m.sql)])
paused = [r[0] for r in b.rows("SELECT name FROM system.tables WHERE database = 'marts' AND name LIKE '%_kafka_mv'")]
migrate(b, "embedded", directory=full)
attach(b, all_sources(full), kafka)
rows = b.rows("SELECT name, engine, arrayStringConcat(dependencies_table, ',') FROM system.tables "
              "WHERE database = 'marts' AND (name LIKE '%_kafka' OR name LIKE '%_kafka_mv' OR name LIKE '%_queue') "
              "ORDER BY name")
print(json.dumps({"paused": paused, "tables": rows}))
"""


def test_fronts_feed_the_queue_tables_and_survive_a_recreated_queue(tmp_path):
    early = tmp_path / "early"
    early.mkdir()
    for f in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(f.name[:4]) < 29:  # 0029 re-creates four queue tables
            shutil.copy(f, early)
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(tmp_path / "chdb"), str(early),
                           str(MIGRATIONS_DIR)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    tables = {name: (engine, deps) for name, engine, deps in out["tables"]}
    for s in all_sources():
        name = s.table.removesuffix("_queue")
        assert tables[s.table][0] == "Null"
        assert tables[f"{name}_kafka"] == ("Kafka", f"{name}_kafka_mv")  # the front's one view
        assert tables[f"{name}_kafka_mv"][0] == "MaterializedView"
        assert f"{name}_errors_mv" in tables[s.table][1].split(",")  # the migration's views read the queue
    assert len(out["paused"]) == len(all_sources()) - 4  # 0029's four sources were paused while it ran


def test_a_front_reads_its_topic_with_its_own_group():
    kafka = KafkaSource("b:9092", "p.", "wh", 2, 250)
    table, view = front(Source("post_rolling_queue", "metrics.post.rolling"), kafka)
    assert "ENGINE = Kafka" in table and "kafka_topic_list = 'p.metrics.post.rolling'" in table
    assert f"kafka_group_name = '{group_of('wh', Source('post_rolling_queue', 'x'))}'" in table
    assert "kafka_group_name = 'wh.post_rolling_queue'" in table and "kafka_num_consumers = 2" in table
    assert view.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS post_rolling_kafka_mv TO post_rolling_queue")
    assert "_raw_message, _error" in view
