"""The embedded warehouse's HTTP endpoint: the part of ClickHouse's HTTP interface that clickhouse-connect,
the loader, the tests and Grafana's ClickHouse data source (HTTP protocol) use.

``POST /`` (or ``GET /?query=``) runs the query given in the ``query`` parameter and/or the body; when the
``query`` parameter is an ``INSERT ... FORMAT <fmt>``, the body is the data. ``database`` selects the database;
``default_format`` applies when the query names none (default TabSeparated). Errors answer HTTP 500 with
ClickHouse's message and the ``X-ClickHouse-Exception-Code`` header. Settings parameters are accepted and
ignored (chdb runs with its defaults). ``GET /ping`` answers ``Ok.``. Loopback only, no authentication.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("stir.warehouse.http")
INSERT_RE = re.compile(r"^\s*(INSERT\s+INTO\s+.+?)\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)
CODE_RE = re.compile(r"Code:\s*(\d+)")


class ChdbExecutor:
    """Serializes every statement on one chdb session (chdb runs one statement at a time per session)."""

    def __init__(self, session: Any, lock: threading.RLock) -> None:
        self.session = session
        self.lock = lock
        self.current_db: str | None = None

    def _use(self, database: str | None) -> None:
        if database and database != self.current_db:
            self.session.query(f"USE {database}")
            self.current_db = database

    def query(self, sql: str, fmt: str, database: str | None) -> bytes:
        with self.lock:
            self._use(database)
            res = self.session.query(sql, fmt)
            return bytes(res.bytes()) if res is not None else b""

    def insert(self, statement: str, fmt: str, data: bytes, database: str | None) -> int:
        with self.lock:
            self._use(database)
            ins = self.session.send_insert(statement, fmt)
            try:
                if data:
                    ins.append(data)
                return int(ins.finish().rows_written)
            except BaseException:
                ins.cancel()
                raise


def make_handler(executor: ChdbExecutor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                raw = b"".join(chunks)
            else:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
            encoding = self.headers.get("Content-Encoding", "").lower()
            if encoding == "gzip":
                return gzip.decompress(raw)
            if encoding not in ("", "identity"):
                raise ValueError(f"Content-Encoding {encoding!r} is not supported here (use compress=False)")
            return raw

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/ping":  # X-Stir-Pid: who answers (a readiness check must reach this process)
                self._reply(200, b"Ok.\n", {"X-Stir-Pid": str(os.getpid())})
                return
            params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            try:
                body = self._body()
                database = params.get("database") or self.headers.get("X-ClickHouse-Database")
                fmt = params.get("default_format") or self.headers.get("X-ClickHouse-Format") or "TabSeparated"
                query = params.get("query", "")
                insert = INSERT_RE.match(query) if query else None
                if insert is not None:
                    rows = executor.insert(insert.group(1), insert.group(2), body, database)
                    summary = f'{{"written_rows":"{rows}","written_bytes":"{len(body)}"}}'
                    self._reply(200, b"", {"X-ClickHouse-Summary": summary})
                    return
                sql = (query + "\n" + body.decode()) if query else body.decode()
                if not sql.strip():
                    raise ValueError("empty query")
                out = executor.query(sql, fmt, database)  # a FORMAT clause in the query wins
                self._reply(200, out, {"X-ClickHouse-Format": fmt, "Content-Type": "text/plain; charset=UTF-8"})
            except Exception as exc:
                text = str(exc)
                m = CODE_RE.search(text)
                self._reply(500, text.encode(), {"X-ClickHouse-Exception-Code": m.group(1) if m else "1001"})

        do_GET = _handle
        do_POST = _handle

    return Handler


def serve(executor: ChdbExecutor, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; returns the server (``shutdown()`` stops it)."""
    server = ThreadingHTTPServer((host, port), make_handler(executor))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="warehouse-http", daemon=True).start()
    return server
