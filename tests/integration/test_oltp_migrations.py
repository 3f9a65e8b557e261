"""The OLTP migration runner on a real PostgreSQL: history, checksums, one transaction per migration."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from schemas.migrations import MigrationError, discover
from schemas.oltp_migrate import OLTP_DIR, migrate, migration_status

pytestmark = pytest.mark.integration


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrate_applies_everything_once(fresh_db):
    applied = migrate(fresh_db)
    assert [m.version for m in applied] == [m.version for m in discover(OLTP_DIR)]
    assert migrate(fresh_db) == []  # no double apply
    assert {r.state for r in migration_status(fresh_db)} == {"applied"}
    assert {"profiles", "posts", "collections", "collection_items", "scrape_requests", "companies",
            "job_positions", "processes", "interviews", "outcomes", "tenants", "users", "outbox",
            "stir_schema_history"} <= _tables(fresh_db)  # fmt: skip
    with psycopg.connect(fresh_db) as conn:
        full = conn.execute(
            "SELECT relname FROM pg_class WHERE relreplident = 'f' AND relkind = 'r' ORDER BY 1"
        ).fetchall()
    assert {"profiles", "posts", "scrape_requests", "processes", "interviews"} <= {r[0] for r in full}


def test_edited_applied_migration_is_refused(fresh_db, tmp_path):
    work = tmp_path / "oltp"
    shutil.copytree(OLTP_DIR, work)
    migrate(fresh_db, work)
    path = work / "0003_collections.sql"
    path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")
    assert [r.state for r in migration_status(fresh_db, work) if r.version == 3] == ["modified"]
    with pytest.raises(MigrationError, match="0003_collections: file changed after it was applied"):
        migrate(fresh_db, work)


def test_failing_migration_rolls_back_whole(fresh_db, tmp_path):
    work = tmp_path / "oltp"
    shutil.copytree(OLTP_DIR, work)
    (work / "0900_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrate(fresh_db, work)
    assert "half_done" not in _tables(fresh_db)
    states = {r.version: r.state for r in migration_status(fresh_db, work)}
    assert states[900] == "pending" and states[14] == "applied"


def test_one_active_process_per_position(fresh_db):
    migrate(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO companies (id, name) VALUES (1, 'Acme')")
        conn.execute("INSERT INTO job_positions (id, company_id, title) VALUES (1, 1, 'Data Engineer')")
        conn.execute("INSERT INTO processes (position_id, candidate_name, status) VALUES (1, 'ana', 'rejected')")
        conn.execute("INSERT INTO processes (position_id, candidate_name) VALUES (1, 'ana')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO processes (position_id, candidate_name, status) VALUES (1, 'ana', 'screening')")
