"""The two ways to reach ClickHouse: chdb in this process, or clickhouse-connect over HTTP (a server, or the
embedded warehouse's endpoint)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any


class ChdbBackend:
    """chdb session bound to one database. One process can hold one chdb path, and a session runs one
    statement at a time, so every call takes the lock."""

    def __init__(self, path: Path, database: str) -> None:
        from clickhouse_ddl.chdb_loader import chdb_session

        path.mkdir(parents=True, exist_ok=True)
        self.session = chdb_session(str(path))
        self.lock = threading.RLock()
        self.database = database
        self.session.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.session.query(f"USE {database}")

    def command(self, sql: str) -> None:
        with self.lock:
            self.session.query(sql)

    def rows(self, sql: str) -> list[list[Any]]:
        with self.lock:
            out = self.session.query(sql, "JSONCompact").bytes()
        return list(json.loads(out)["data"]) if out else []

    def close(self) -> None:
        self.session.close()


class ConnectBackend:
    def __init__(self, client: Any) -> None:
        self.client = client

    def command(self, sql: str) -> None:
        self.client.command(sql)

    def rows(self, sql: str) -> list[list[Any]]:
        return [list(r) for r in self.client.query(sql).result_rows]
