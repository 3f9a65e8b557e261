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

    def __init__(self, path: Path, database: str, broker_threads: int = 0, kafka_session_timeout_ms: int = 0) -> None:
        from clickhouse_ddl.chdb_loader import chdb_session

        path.mkdir(parents=True, exist_ok=True)
        self.session = chdb_session(str(path), broker_threads, kafka_session_timeout_ms)
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

    def insert(self, table: str, fmt: str, data: bytes) -> int:
        """Stream ``data`` (rows in ``fmt``) into ``table``: chdb's streaming insert, several times faster than the
        rows inline in an ``INSERT ... FORMAT`` statement. Returns the rows written."""
        if not data:
            return 0
        with self.lock:
            ins = self.session.send_insert(f"INSERT INTO {table}", fmt)
            try:
                ins.append(data)
                return int(ins.finish().rows_written)
            except BaseException:
                ins.cancel()
                raise

    def close(self) -> None:
        self.session.close()


class ConnectBackend:
    def __init__(self, client: Any) -> None:
        self.client = client

    def command(self, sql: str) -> None:
        self.client.command(sql)

    def rows(self, sql: str) -> list[list[Any]]:
        return [list(r) for r in self.client.query(sql).result_rows]
