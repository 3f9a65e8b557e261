"""What clickhouse_ddl/chdb_loader.py relies on, checked against the installed (pinned) chdb, each case in a
child process (one chdb per process). When a new chdb fixes its probe or moves its extension, these fail and say
which assumption changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clickhouse_ddl.chdb_loader import PINNED, ChdbLoadError, chdb_session

ROOT = Path(__file__).parents[3]
KAFKA_TABLE = ("CREATE TABLE q (k String) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', "
               "kafka_topic_list = 't', kafka_group_name = 'g', kafka_format = 'JSONEachRow'")  # fmt: skip

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
mode, path, sql = sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "loader":
    from clickhouse_ddl.chdb_loader import chdb_session
    s = chdb_session(path, broker_threads=7)
else:
    import chdb.session
    s = chdb.session.Session(path)
out = {"version": str(s.query("SELECT version()", "CSV")).strip().strip('"')}
try:
    s.query(sql)
    out["kafka"] = "created"
    out["pool"] = str(s.query("SELECT value FROM system.metrics "
                              "WHERE metric = 'BackgroundMessageBrokerSchedulePoolSize'", "CSV")).strip()
except Exception as exc:
    out["kafka"] = str(exc)
if mode == "loader":
    try:
        import chdb
        chdb_session(path)
        out["second"] = "ok"
    except Exception as exc:
        out["second"] = str(exc)
print(json.dumps(out))
"""


def _child(mode: str, path: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), mode, str(path), KAFKA_TABLE],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_installed_chdb_is_the_pinned_one():
    import importlib.metadata

    assert {d: importlib.metadata.version(d) for d in PINNED} == PINNED


def test_chdb_still_has_the_probe_the_loader_avoids():
    """If this fails, chdb no longer closes a probe connection at import: the loader may be unnecessary."""
    import importlib.util

    spec = importlib.util.find_spec("chdb")
    assert spec is not None and spec.origin is not None
    init = Path(spec.origin).read_text()
    assert "conn = _chdb.connect()" in init and "conn.close()" in init
    assert (Path(spec.origin).parent / "_chdb.abi3.so").exists()


def test_a_kafka_table_starts_through_the_loader_and_not_after_a_plain_import(tmp_path):
    plain = _child("plain", tmp_path / "plain")
    assert "Shutdown was called" in plain["kafka"], plain  # the trap (chdb-io/chdb#339) is still there
    loaded = _child("loader", tmp_path / "loaded")
    assert loaded["kafka"] == "created", loaded
    assert loaded["version"] == plain["version"] and loaded["version"].startswith("26.")
    assert loaded["second"] == "ok"  # a second session in the same process is fine
    # the Kafka engine's consumers share this pool, made with the first Kafka table: chdb's own size is 2
    assert loaded["pool"] == "7"


def test_a_process_that_imported_chdb_normally_is_told_so(tmp_path):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import chdb\n"
            "from clickhouse_ddl.chdb_loader import chdb_session, ChdbLoadError\n"
            "try:\n    chdb_session(sys.argv[2])\nexcept ChdbLoadError as e:\n    print('refused:', e)\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(ROOT), str(tmp_path / "x")], capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    assert done.stdout.startswith("refused:") and "before clickhouse_ddl.chdb_loader" in done.stdout


def test_a_version_other_than_the_pinned_one_is_refused(monkeypatch, tmp_path):
    import clickhouse_ddl.chdb_loader as loader

    monkeypatch.setattr(loader, "PINNED", {"chdb": "0.0.1", "chdb-core": "0.0.1"})
    monkeypatch.delitem(sys.modules, "chdb", raising=False)
    with pytest.raises(ChdbLoadError, match="written for"):
        chdb_session(str(tmp_path))


def test_a_path_chdb_would_read_as_connection_parameters_is_refused():
    import pytest

    from clickhouse_ddl.chdb_loader import ChdbLoadError, chdb_session

    with pytest.raises(ChdbLoadError, match="STIR_STATE_DIR"):
        chdb_session("/tmp/state?readonly=1/chdb", broker_threads=4)
