"""Migration discovery and planning (no database)."""

from __future__ import annotations

import pytest

from schemas.migrations import Applied, MigrationError, discover, pending, status


def _write(d, name, sql="SELECT 1;"):
    (d / name).write_text(sql)


def test_discover_orders_and_checksums(tmp_path):
    _write(tmp_path, "0002_b.sql")
    _write(tmp_path, "0001_a.sql", "SELECT 2;")
    ms = discover(tmp_path)
    assert [(m.version, m.name) for m in ms] == [(1, "a"), (2, "b")]
    assert ms[0].checksum != ms[1].checksum and len(ms[0].checksum) == 64


@pytest.mark.parametrize("bad", ["1_a.sql", "0001-a.sql", "0001_A.sql"])
def test_discover_refuses_bad_names(tmp_path, bad):
    _write(tmp_path, bad)
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover(tmp_path)


def test_duplicate_numbers_refused(tmp_path):
    _write(tmp_path, "0001_a.sql")
    _write(tmp_path, "0001_b.sql")
    with pytest.raises(MigrationError, match="two migrations numbered 0001"):
        discover(tmp_path)


def test_pending_and_status(tmp_path):
    _write(tmp_path, "0001_a.sql")
    _write(tmp_path, "0002_b.sql")
    ms = discover(tmp_path)
    applied = [Applied(1, "a", ms[0].checksum)]
    assert [m.version for m in pending(ms, applied)] == [2]
    assert [r.state for r in status(ms, applied)] == ["applied", "pending"]
    assert [r.state for r in status(ms[:1], [*applied, Applied(2, "b", "x")])] == ["applied", "missing"]
    with pytest.raises(MigrationError, match="applied but its file is gone"):
        pending(ms[:1], [*applied, Applied(2, "b", "x")])
    with pytest.raises(MigrationError, match="file changed after it was applied"):
        pending(ms, [Applied(1, "a", "0" * 64)])


def test_out_of_order_new_migration_refused(tmp_path):
    _write(tmp_path, "0001_a.sql")
    _write(tmp_path, "0003_c.sql")
    ms = discover(tmp_path)
    _write(tmp_path, "0002_b.sql")
    with pytest.raises(MigrationError, match="older than the newest applied"):
        pending(discover(tmp_path), [Applied(m.version, m.name, m.checksum) for m in ms])
