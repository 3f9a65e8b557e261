"""Security of what the stack opens on the host, against the real processes: the embedded warehouse's HTTP
endpoint (issue item 1) and its secrets (item 5). Each check is an attack that worked before."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import httpx
import pytest

from deploy.local.pipeline import Pipeline
from deploy.local.settings import StackSettings
from schemas.settings import CH_READER_USER
from tests.support.harness import pipeline_env, warehouse_client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint(stack, tmp_path_factory):
    from clickhouse_ddl.runner import all_sources
    from tests.support.kafka import delete_topics

    uid = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("sec")
    env = pipeline_env(f"sec{uid}.", tmp / "state", "")
    pipeline = Pipeline(tmp / "run", env)
    pipeline.start("warehouse")
    secrets = tmp / "state" / "secrets"
    admin = ("default", (secrets / "ch.password").read_text().strip())
    reader = (CH_READER_USER, (secrets / "ch-reader.password").read_text().strip())
    base = f"http://127.0.0.1:{env['STIR_CH_HTTP_PORT']}"
    try:
        yield base, admin, reader, secrets, env, tmp
    finally:
        pipeline.down(("warehouse",))
        delete_topics(stack.bootstrap, [f"sec{uid}.{s.topic}" for s in all_sources()])


def _post(base: str, sql: str, auth: tuple[str, str] | None, **kw: object) -> httpx.Response:
    return httpx.post(base + "/", content=sql.encode(), auth=auth, timeout=30, **kw)  # type: ignore[arg-type]


def test_anonymous_and_wrong_passwords_are_refused(endpoint):
    base, admin, _, _, _, _ = endpoint
    assert httpx.get(base + "/ping", timeout=10).text == "Ok.\n"  # readiness stays open, and says nothing more
    for auth in (None, ("default", "wrong"), ("nobody", admin[1])):
        r = _post(base, "SELECT 1", auth)
        assert r.status_code == 401 and "Authentication" in r.text, (auth, r.text)
        assert r.headers["X-ClickHouse-Exception-Code"] == "516"
    assert httpx.get(base + "/?query=SELECT%201", timeout=10).status_code == 401
    assert _post(base, "SELECT 1", admin).text == "1\n"
    r = httpx.post(base + "/", content=b"SELECT 2", timeout=10,
                   headers={"X-ClickHouse-User": admin[0], "X-ClickHouse-Key": admin[1]})  # fmt: skip
    assert r.text == "2\n"


def test_get_never_writes(endpoint):
    base, admin, _, _, _, _ = endpoint
    r = httpx.get(base + "/", params={"query": "CREATE TABLE sec_get (x Int8) ENGINE = Memory"}, auth=admin,
                  timeout=10)  # fmt: skip
    assert r.status_code == 405 and "POST" in r.text, r.text
    assert _post(base, "EXISTS TABLE sec_get", admin).text == "0\n"
    assert httpx.get(base + "/", params={"query": "SELECT 3"}, auth=admin, timeout=10).text == "3\n"


def test_no_sql_reaches_the_file_system_or_the_network(endpoint, tmp_path):
    base, admin, _, _, _, _ = endpoint
    hostname = Path("/etc/hostname").read_text().strip()
    target = tmp_path / "written.csv"
    attacks = [
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT * FROM file('../../../../etc/hostname', 'LineAsString')",
        f"INSERT INTO FUNCTION file('{target}', 'CSV', 'x Int8') SELECT 1",
        f"SELECT 1 INTO OUTFILE '{target}'",
        "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
        "SELECT * FROM remote('127.0.0.1:9000', system.one)",
        "CREATE TABLE sec_f (x String) ENGINE = File(LineAsString, '/etc/hostname')",
        "CREATE DICTIONARY sec_d (k UInt64, v String) PRIMARY KEY k SOURCE(FILE(path '/etc/passwd' format 'TSV')) "
        "LAYOUT(FLAT()) LIFETIME(0)",
        "SELECT * FROM executable('id', 'LineAsString', 'x String')",
        # found by review: parsing used to run the statements after the first, and the file-reading forms below
        "SELECT 1; CREATE TABLE sec_multi (x Int8) ENGINE = Memory",
        f"SELECT 1 FORMAT TSV INTO OUTFILE '{target}'",
        "SELECT name, content FROM filesystem('/etc') WHERE name = 'hostname'",
        "SELECT * FROM '/etc/hostname'",
        "SELECT * FROM `/etc/hostname`",
        "SELECT * FROM default.Makefile",
        "SELECT * FROM icebergLocal('/etc')",
        "CREATE DATABASE sec_fs ENGINE = Filesystem('/etc')",
        "CREATE TABLE sec_rocks (k String, v String) ENGINE = EmbeddedRocksDB(0, '/tmp/sec-rocks') PRIMARY KEY k",
    ]
    for sql in attacks:
        r = _post(base, sql, admin)
        assert r.status_code in (400, 403, 500), (sql, r.status_code, r.text)  # refused, or not even parsed
        assert hostname not in r.text
        assert httpx.get(base + "/", params={"query": sql}, auth=admin, timeout=10).status_code != 200, sql
    assert not target.exists()
    assert _post(base, "EXISTS TABLE sec_multi", admin).text == "0\n"
    assert _post(base, "EXISTS DATABASE sec_fs", admin).text == "0\n"
    # what the warehouse itself uses still runs: its tables, engines, system tables, parameters
    assert (
        _post(base, "CREATE TABLE IF NOT EXISTS sec_ok (x Int8) ENGINE = MergeTree ORDER BY x", admin).status_code
        == 200
    )
    assert _post(base, "SELECT count() FROM sec_ok, numbers(3) AS n WHERE x = 0", admin).text == "0\n"
    assert _post(base, "SELECT count() > 0 FROM system.tables", admin).text == "1\n"
    r = httpx.post(base + "/", params={"query": f"INSERT INTO FUNCTION file('{target}', 'CSV', 'x Int8') FORMAT CSV"},
                   content=b"1\n", auth=admin, timeout=10)  # fmt: skip
    assert r.status_code == 403 and not target.exists()


def test_the_reader_reads_and_nothing_else(endpoint):
    base, _, reader, _, env, _ = endpoint
    assert _post(base, "SELECT count() FROM system.one", reader).text == "1\n"
    for sql in (
        "CREATE TABLE sec_r (x Int8) ENGINE = Memory",
        "DROP TABLE IF EXISTS profile_rolling",
        "INSERT INTO ingest_errors (topic) VALUES ('x')",
        "ALTER TABLE profile_rolling DELETE WHERE 1",
    ):
        r = _post(base, sql, reader)
        assert r.status_code == 403 and "read-only" in r.text, (sql, r.text)
    client = warehouse_client(env, reader=True)
    try:
        assert client.query("SELECT count() FROM profile_rolling").result_rows[0][0] >= 0
    finally:
        client.close()


def test_other_hosts_origins_and_database_names_are_refused(endpoint):
    base, admin, _, _, _, _ = endpoint
    port = base.rsplit(":", 1)[1]
    r = _post(base, "SELECT 1", admin, headers={"Host": f"rebound.example:{port}"})
    assert r.status_code == 403 and "Host" in r.text
    r = _post(base, "SELECT 1", admin, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = _post(base, "SELECT 1", admin, params={"database": "x; DROP DATABASE default"})
    assert r.status_code == 400


def test_the_warehouse_secrets_are_private_from_creation(endpoint):
    _, _, _, secrets, _, _ = endpoint
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for name in ("ch.password", "ch-reader.password"):
        assert stat.S_IMODE((secrets / name).stat().st_mode) == 0o600, name


def test_junk_event_types_do_not_grow_the_metrics(stack, tmp_path):
    """Item 4: a type is a metric label only when it is a declared one; 10k junk types leave /metrics as big as
    one did (only counter digits change)."""
    import json

    from schemas.registry import INGEST_TYPES
    from tests.support.ingest_server import ingest_server
    from tests.support.kafka import delete_topics

    prefix = f"mj{uuid.uuid4().hex[:8]}."

    def junk(n: int, start: int) -> bytes:
        return json.dumps([{"type": f"junk.{start + i}", "event_id": str(uuid.uuid4()), "event_time": 1,
                            "source": "x"} for i in range(n)]).encode()  # fmt: skip

    try:
        with ingest_server(tmp_path, prefix) as srv:
            headers = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/json"}
            assert (
                httpx.post(f"{srv.url}/v1/events", content=junk(1, 0), headers=headers, timeout=30).status_code == 422
            )
            before = len(httpx.get(f"{srv.url}/metrics", timeout=10).content)
            r = httpx.post(f"{srv.url}/v1/events", content=junk(10_000, 1), headers=headers, timeout=60)
            assert r.status_code == 422 and r.json()["rejected"] == 10_000
            after = len(httpx.get(f"{srv.url}/metrics", timeout=10).content)
            assert abs(after - before) < 200, (before, after)
            assert "junk." not in httpx.get(f"{srv.url}/metrics", timeout=10).text
    finally:
        delete_topics(stack.bootstrap, [prefix + t for t in (*INGEST_TYPES, "dlq.ingest")])


def test_connect_rest_refuses_anonymous_calls_and_wrong_passwords(stack):
    """Item 2: Connect's REST API answers only with the user and password of its users file (Kafka's basic auth
    extension); before, anyone on the host could create a connector."""
    settings = StackSettings()
    base, auth = settings.connect_rest, settings.connect_auth()
    assert auth is not None and auth[1]
    for path in ("/", "/connectors", "/connector-plugins"):
        assert httpx.get(base + path, timeout=10).status_code == 401, path
        assert httpx.get(base + path, auth=(auth[0], auth[1] + "x"), timeout=10).status_code == 401, path
        assert httpx.get(base + path, auth=("admin", auth[1]), timeout=10).status_code == 401, path
        assert httpx.get(base + path, auth=auth, timeout=10).status_code == 200, path
    name = f"sec-anon-{uuid.uuid4().hex[:6]}"
    r = httpx.put(f"{base}/connectors/{name}/config", json={"connector.class": "x"}, timeout=10)
    assert r.status_code == 401
    assert httpx.get(f"{base}/connectors/{name}/status", auth=auth, timeout=10).status_code == 404


def test_connect_reads_no_file_outside_its_secrets_dir(stack):
    """Item 2: FileConfigProvider's allowed.paths is Connect's own secrets dir. A connector config naming
    /etc/passwd, or another of the stack's secrets, gets the reference back unresolved (before: the file's
    line, echoed in Connect's validation error)."""
    settings = StackSettings()
    base, auth = settings.connect_rest, settings.connect_auth()
    for ref in ("${file:/etc/passwd:root}", f"${{file:{settings.pg_password_file}:x}}"):
        name = f"sec-probe-{uuid.uuid4().hex[:6]}"
        cfg = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector",
               "database.hostname": "127.0.0.1", "database.port": str(settings.pg_port), "database.user": ref,
               "database.password": "x", "database.dbname": "stir", "topic.prefix": name,
               "plugin.name": "pgoutput"}  # fmt: skip
        try:
            r = httpx.put(f"{base}/connectors/{name}/config", json=cfg, auth=auth, timeout=60)
            assert r.status_code == 400, r.text
            # PostgreSQL refused the user as written: the reference, unresolved, and nothing of the file
            assert ref in r.text and ":0:0:" not in r.text and settings.pg_password() not in r.text, r.text
            assert httpx.get(f"{base}/connectors/{name}/status", auth=auth, timeout=10).status_code == 404
        finally:
            httpx.delete(f"{base}/connectors/{name}", auth=auth, timeout=10)


def test_no_service_of_the_stack_runs_as_root(stack):
    """Item 2: PostgreSQL, Kafka and Connect run as an unprivileged OS user (``STIR_SERVICE_OS_USER`` when the
    stack is started as root); Connect's secrets are root's, readable by that user and changed by no one else."""
    from deploy.local.services import all_services

    settings = StackSettings()
    managed = [svc for svc in all_services(settings) if svc.name in settings.managed()]
    assert managed, "the stack runs no service here"
    for svc in managed:
        rec = svc.proc.running()
        assert rec is not None, f"{svc.name} is not running"
        status = Path(f"/proc/{rec.pid}/status").read_text().splitlines()
        ids = {line.split(":")[0]: line.split()[1:] for line in status if line.startswith(("Uid:", "Gid:", "Groups:"))}
        assert all(int(u) != 0 for u in ids["Uid"]), f"{svc.name} runs as root: {ids}"
        assert all(int(g) != 0 for g in ids["Gid"] + ids["Groups"]), f"{svc.name} keeps root's group: {ids}"
    if "connect" in settings.managed() and os.geteuid() == 0:
        # Connect's secrets: root's, readable by the service user's group, writable by nobody else (the service
        # can plant no link where root writes at the next start)
        import pwd
        import subprocess

        from deploy.local.process import as_user
        from deploy.local.settings import run_as_user

        user = run_as_user(settings)
        assert user is not None
        d = settings.connect_secrets_dir.lstat()
        assert (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode)) == (0, pwd.getpwnam(user).pw_gid, 0o750)
        for f in settings.connect_secrets_dir.iterdir():
            st = f.lstat()
            assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o640, f
            assert subprocess.run(["cat", str(f)], **as_user(user), capture_output=True).returncode == 0, f
        for path in (settings.connect_secrets_dir, settings.connect_secrets_dir.parent):
            assert subprocess.run(["test", "-w", str(path)], **as_user(user)).returncode != 0, path


def test_query_parameters_are_bound_not_spliced(endpoint):
    """SQL parameters everywhere: ClickHouse's server-side binding (``param_<name>``) works on the endpoint, so a
    client never has to format a value into SQL."""
    base, admin, _, _, env, _ = endpoint
    hostile = "x' OR 1=1 --"
    r = httpx.post(base + "/", params={"query": "SELECT {v:String} AS v, length({v:String})", "param_v": hostile},
                   auth=admin, timeout=10)  # fmt: skip
    assert r.status_code == 200 and r.text == f"x\\' OR 1=1 --\t{len(hostile)}\n", r.text
    client = warehouse_client(env)
    try:
        rows = client.query("SELECT {v:String}", parameters={"v": hostile}).result_rows
        assert rows == [(hostile,)]
    finally:
        client.close()


def test_each_component_role_has_only_its_privileges(stack, fresh_db, uid):
    """Item 3: the loader role reads no OLTP table, the CDC role reads the published tables and writes none, the
    app role reads the serving tables and nothing else, the audit role the OLTP key columns only; the connector
    logs in as the CDC role, and Connect holds no superuser password."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from connectors.debezium import ConnectorSettings, connector_config
    from schemas.oltp_migrate import migrate
    from schemas.roles import APP, AUDIT, CDC, LOADER
    from serving_loader.loader import ensure_schema

    migrate(fresh_db)
    db = f"t_{uid}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO profiles (id, handle, platform) VALUES (1, 'a', 'instagram')")

    def as_role(role: str) -> psycopg.Connection:
        return psycopg.connect(make_conninfo(stack.dsn(role=role), dbname=db), autocommit=True)

    def refused(role: str, statement: str) -> bool:
        with as_role(role) as conn:
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                return True
        return False

    assert refused(LOADER, "SELECT * FROM profiles")
    assert refused(LOADER, "SELECT * FROM scrape_requests")
    with as_role(CDC) as conn:
        assert conn.execute("SELECT count(*) FROM profiles").fetchone() == (1,)
    for statement in ("INSERT INTO profiles (id, handle, platform) VALUES (2, 'b', 'instagram')",
                      "UPDATE profiles SET handle = 'x'", "DELETE FROM profiles", "TRUNCATE profiles",
                      "CREATE TABLE t (x int)"):  # fmt: skip
        assert refused(CDC, statement), statement
    schema = f"serving_{uid}"
    with as_role(LOADER) as conn:  # the loader creates and owns its schema
        ensure_schema(conn, schema)
        conn.execute(f"CREATE TABLE {schema}.s (x int)")
        conn.execute(f"INSERT INTO {schema}.s VALUES (1)")
    with as_role(APP) as conn:
        assert conn.execute(f"SELECT x FROM {schema}.s").fetchall() == [(1,)]
    assert refused(APP, f"INSERT INTO {schema}.s VALUES (2)")
    assert refused(APP, "SELECT * FROM profiles")
    with as_role(AUDIT) as conn:  # the reconciliation reads the key columns, nothing else
        assert conn.execute("SELECT id FROM profiles").fetchall() == [(1,)]
    for statement in ("SELECT handle FROM profiles", "SELECT * FROM profiles", "SELECT * FROM scrape_requests",
                      "UPDATE profiles SET id = 3", f"SELECT x FROM {schema}.s"):  # fmt: skip
        assert refused(AUDIT, statement), statement
    assert connector_config(ConnectorSettings(), dbname=db)["database.user"] == CDC
    settings = StackSettings()
    if "connect" in settings.managed():
        assert settings.pg_password() not in settings.connect_secrets_file.read_text()


def test_bootstrap_hands_a_database_from_before_the_roles_to_them(stack, fresh_db, uid):
    """An upgrade: tables, a publication and a serving schema created by the superuser become the owner's and
    the loader's, so `stir connectors apply` (as the owner) and the loader (as its role) keep working."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from schemas import roles

    settings = StackSettings()
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.old (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)")
        conn.execute(f"CREATE PUBLICATION pub_{uid} FOR TABLE public.old")
        conn.execute(f"CREATE SCHEMA serving_{uid}")
        conn.execute(f"CREATE TABLE serving_{uid}.stir_load_runs (spec text)")
    passwords = {r: settings.pg_role_password_file(r).read_text().strip() for r in roles.ROLES}
    roles.bootstrap(settings.dsn("postgres"), f"t_{uid}", passwords)
    with psycopg.connect(make_conninfo(settings.dsn(role=roles.OWNER), dbname=f"t_{uid}"), autocommit=True) as conn:
        conn.execute(f"ALTER PUBLICATION pub_{uid} SET TABLE public.old")
        conn.execute("INSERT INTO public.old DEFAULT VALUES")
    with psycopg.connect(make_conninfo(settings.dsn(role=roles.LOADER), dbname=f"t_{uid}"), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE serving_{uid}.new (x int)")
        conn.execute(f"INSERT INTO serving_{uid}.stir_load_runs VALUES ('x')")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f"DROP PUBLICATION pub_{uid}")
