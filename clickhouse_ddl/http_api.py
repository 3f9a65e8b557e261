"""The embedded warehouse's HTTP endpoint: the part of ClickHouse's HTTP interface that clickhouse-connect,
the loader, the tests and Grafana's ClickHouse data source (HTTP protocol) use.

``POST /`` (or ``GET /?query=``) runs the query given in the ``query`` parameter and/or the body; when the
``query`` parameter is an ``INSERT ... FORMAT <fmt>``, the body is the data. ``database`` selects the database;
``default_format`` applies when the query names none (default TabSeparated). Errors answer HTTP 500 with
ClickHouse's message and the ``X-ClickHouse-Exception-Code`` header. ``param_<name>`` parameters bind the
query's ``{name:Type}`` placeholders; settings parameters are accepted and ignored (chdb runs with its
defaults). ``GET /ping`` answers ``Ok.`` (and nothing else is open).

Access (``Access``), checked before anything runs:

- every query needs a user and password (HTTP basic auth, ClickHouse's ``X-ClickHouse-User``/``-Key`` headers
  or ``user``/``password`` parameters): the admin (``STIR_CH_USER``) or the read-only ``reader``; passwords
  live in the secrets dir (``schemas.secrets``);
- the statement is parsed by ClickHouse first, without running it (``formatQuerySingleLine``: one statement
  only), then checked on its ``EXPLAIN AST``, and the formatted text is what runs. ``GET`` and the reader run
  read-only statements only (SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN). Table functions and engines are
  allowlisted, tables must be named (not paths) outside clickhouse-local's file-reading ``default`` database,
  and ``INTO OUTFILE``/``FROM INFILE`` and dictionaries are refused: nobody reaches the file system or the
  network from SQL (chdb itself does not confine ``file()``);
- the ``Host`` header must name this loopback endpoint and an ``Origin``, if any, too (a web page's cross-site
  request or a DNS-rebinding name is refused);
- the database is an identifier, quoted.
"""

from __future__ import annotations

import base64
import gzip
import hmac
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
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
READ_ONLY_ROOTS = {"SelectWithUnionQuery", "SelectIntersectExceptQuery", "ShowTables", "ShowCreateTableQuery",
                   "ShowCreateViewQuery", "ShowCreateDatabaseQuery", "DescribeQuery", "DescribeQuery_",
                   "ExistsTableQuery", "ExistsViewQuery", "ExistsDatabaseQuery", "Explain", "ShowColumnsQuery",
                   "ShowIndexesQuery"}  # fmt: skip
# what SQL may name, by allowlist (everything else is refused): table functions, and engines of tables and
# databases. Files, URLs, other servers and programs (file, filesystem, url, s3*, remote, executable, the
# Filesystem database, ...) are not on them.
TABLE_FUNCTIONS = {"numbers", "numbers_mt", "zeros", "zeros_mt", "values", "generaterandom", "null", "view",
                   "merge", "generate_series", "generateseries"}  # fmt: skip
ENGINES = {"mergetree", "replacingmergetree", "summingmergetree", "aggregatingmergetree", "collapsingmergetree",
           "versionedcollapsingmergetree", "memory", "null", "log", "tinylog", "stripelog", "set", "join",
           "atomic"}  # fmt: skip
TABLE_NAME_RE = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_]*)\.)?[A-Za-z_][A-Za-z0-9_]*$")
FORBIDDEN_DATABASES = {"default", "_local"}  # clickhouse-local's default database reads files by name
TOP_LITERAL_RE = re.compile(r"^ Literal ", re.MULTILINE)  # INTO OUTFILE / FROM INFILE: a path under the root


class Refused(Exception):
    """A request the endpoint does not run: (HTTP status, ClickHouse error code, message)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class Access:
    """Who may do what: ``users`` maps a user to (password, may write)."""

    def __init__(self, users: dict[str, tuple[str, bool]], host: str, port: int) -> None:
        if any(not pw for pw, _ in users.values()):
            raise ValueError("every warehouse user needs a password")
        self.users = users
        self.hosts = {f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]", host)}

    def user(self, headers: Any, params: dict[str, str]) -> tuple[str, bool]:
        """The authenticated user and whether it may write; ``Refused`` (401) otherwise."""
        name, password = params.get("user"), params.get("password")
        given = self.headers_user(headers)
        if given is not None:
            name, password = given
        if name is None or password is None:
            raise Refused(401, 516, "Authentication required: pass a user and password (basic auth)")
        known = self.users.get(name)
        if known is None or not hmac.compare_digest(known[0].encode(), password.encode()):
            raise Refused(401, 516, f"{name}: Authentication failed: password is incorrect, or there is no such user")
        return name, known[1]

    @staticmethod
    def headers_user(headers: Any) -> tuple[str, str] | None:
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                name, _, password = base64.b64decode(auth[6:], validate=True).decode().partition(":")
            except ValueError:
                raise Refused(401, 516, "malformed basic authorization") from None
            return name, password
        if headers.get("X-ClickHouse-User") is not None:
            return headers["X-ClickHouse-User"], headers.get("X-ClickHouse-Key", "")
        return None

    def origin(self, headers: Any) -> None:
        """The Host (and any Origin) must be this loopback endpoint."""
        host = headers.get("Host", "")
        if host not in self.hosts:
            raise Refused(403, 497, f"Host {host[:100]!r} is not this endpoint (use 127.0.0.1)")
        origin = headers.get("Origin")
        if origin is not None and urllib.parse.urlsplit(origin).netloc not in self.hosts:
            raise Refused(403, 497, "cross-origin requests are refused")


def _nodes(ast: str) -> list[tuple[int, str]]:
    """``EXPLAIN AST`` lines as (depth, text)."""
    return [(len(line) - len(line.lstrip(" ")), line.strip()) for line in ast.splitlines() if line.strip()]


def check_statement(ast: str, may_write: bool, method: str) -> None:
    """Refuse by the parsed statement (``EXPLAIN AST`` of the statement ``canonical`` returned): a table
    function or engine off the allowlists, a table named by path or in clickhouse-local's file-reading default
    database, a dictionary, and for a GET or a read-only user anything but a read."""
    nodes = _nodes(ast)
    parents: list[str] = []  # the first word of the node at each depth so far
    engine_expected_at: int | None = None
    for depth, text in nodes:
        del parents[depth:]
        parent = parents[-1] if parents else ""
        word, _, rest = text.partition(" ")
        name = rest.split(" ", 1)[0] if rest else ""
        table_function = word == "Function" and parent in ("TableExpression", "InsertQuery")
        if table_function and name.lower() not in TABLE_FUNCTIONS:
            raise Refused(403, 497, f"{name}: this table function is not allowed here (files, URLs, servers)")
        if word == "Function" and engine_expected_at == depth and name.lower() not in ENGINES:
            raise Refused(403, 497, f"{name}: this engine is not allowed here (files, URLs, servers)")
        engine_expected_at = depth + 1 if text.startswith("Storage definition") else None
        if word == "TableIdentifier" or (word == "Identifier" and depth == 1):
            m = TABLE_NAME_RE.match(name)
            if m is None or (m.group(1) or "") in FORBIDDEN_DATABASES:
                raise Refused(403, 497, f"table {name[:100]!r}: not a table of this warehouse")
        if text.startswith("Dictionary definition"):
            raise Refused(403, 497, "dictionaries (their sources reach files and servers) are not created here")
        parents.append(word)
    if TOP_LITERAL_RE.search(ast):
        raise Refused(403, 497, "INTO OUTFILE / FROM INFILE are not allowed here")
    root = nodes[0][1].split(None, 1)[0] if nodes else ""
    if root not in READ_ONLY_ROOTS:
        if method == "GET":
            raise Refused(405, 164, "GET runs read-only queries only: send this with POST")
        if not may_write:
            raise Refused(403, 164, "this user is read-only (READONLY)")


class ChdbExecutor:
    """Serializes every statement on one chdb session (chdb runs one statement at a time per session)."""

    def __init__(self, session: Any, lock: threading.RLock) -> None:
        self.session = session
        self.lock = lock
        self.current_db: str | None = None

    def _use(self, database: str | None) -> None:
        if database and database != self.current_db:
            if not IDENT_RE.match(database) or database in FORBIDDEN_DATABASES:
                raise Refused(400, 81, f"database {database[:100]!r}: letters, digits and _ only")
            self.session.query(f"USE `{database}`")
            self.current_db = database

    def parse(self, sql: str, params: dict[str, str] | None = None) -> tuple[str, str]:
        """``sql`` as ClickHouse formats it (one statement; parsed, never run), and that statement's AST as
        ``EXPLAIN AST`` prints it. The formatted text is what runs afterwards: what was checked is what runs."""
        with self.lock:
            # a parameter value is read in ClickHouse's escaped format: backslashes and line breaks escaped
            value = sql.strip().replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            res = self.session.query("SELECT formatQuerySingleLine({q:String})", "TSVRaw", params={"q": value})
            canonical = bytes(res.bytes()).decode().rstrip("\n") if res is not None else ""
            if re.search(r"\b(INTO OUTFILE|FROM INFILE)\b", canonical):
                raise Refused(403, 497, "INTO OUTFILE / FROM INFILE are not allowed here")
            res = self.session.query("EXPLAIN AST " + canonical, "TSVRaw", params=params or {})
            return canonical, (bytes(res.bytes()).decode() if res is not None else "")

    def query(self, sql: str, fmt: str, database: str | None, params: dict[str, str] | None = None) -> bytes:
        """Run ``sql``; ``params`` bind its ``{name:Type}`` placeholders (ClickHouse's ``param_<name>``)."""
        with self.lock:
            self._use(database)
            res = self.session.query(sql, fmt, params=params or {})
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


def make_handler(executor: ChdbExecutor, access: Access) -> type[BaseHTTPRequestHandler]:
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
                access.origin(self.headers)
                _, may_write = access.user(self.headers, params)
                body = self._body()
                database = params.get("database") or self.headers.get("X-ClickHouse-Database")
                fmt = params.get("default_format") or self.headers.get("X-ClickHouse-Format") or "TabSeparated"
                query = params.get("query", "")
                insert = INSERT_RE.match(query) if query else None
                if insert is not None:
                    canonical, ast = executor.parse(f"{insert.group(1)} FORMAT {insert.group(2)}")
                    check_statement(ast, may_write, self.command)
                    into = INSERT_RE.match(canonical)
                    if into is None:
                        raise Refused(400, 62, "not an INSERT ... FORMAT statement")
                    rows = executor.insert(into.group(1), into.group(2), body, database)
                    summary = f'{{"written_rows":"{rows}","written_bytes":"{len(body)}"}}'
                    self._reply(200, b"", {"X-ClickHouse-Summary": summary})
                    return
                sql = (query + "\n" + body.decode()) if query else body.decode()
                if not sql.strip():
                    raise ValueError("empty query")
                bound = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
                canonical, ast = executor.parse(sql, bound)
                check_statement(ast, may_write, self.command)
                out = executor.query(canonical, fmt, database, bound)  # a FORMAT clause in the query wins
                self._reply(200, out, {"X-ClickHouse-Format": fmt, "Content-Type": "text/plain; charset=UTF-8"})
            except Refused as exc:
                headers = {"X-ClickHouse-Exception-Code": str(exc.code)}
                if exc.status == 401:
                    headers["WWW-Authenticate"] = 'Basic realm="stir warehouse"'
                self._reply(exc.status, f"Code: {exc.code}. {exc}\n".encode(), headers)
            except Exception as exc:
                text = str(exc)
                m = CODE_RE.search(text)
                self._reply(500, text.encode(), {"X-ClickHouse-Exception-Code": m.group(1) if m else "1001"})

        do_GET = _handle
        do_POST = _handle

    return Handler


def serve(executor: ChdbExecutor, access: Access, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; returns the server (``shutdown()`` stops it)."""
    server = ThreadingHTTPServer((host, port), make_handler(executor, access))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="warehouse-http", daemon=True).start()
    return server
