"""PostgreSQL roles of least privilege, one per component (the superuser only bootstraps them):

- ``stir_owner``: owns the OLTP database and its tables, runs the migrations, creates the CDC publication;
- ``stir_cdc``: Debezium's login (REPLICATION; SELECT on the published tables, the heartbeat row);
- ``stir_loader``: the serving loader; may create schemas (it owns the serving schema it creates), reads no OLTP
  table;
- ``stir_app``: the app's reader: SELECT on the serving tables only (granted by the loader);
- ``stir_audit``: the reconciliation's view of the OLTP database: the key columns of the entities the serving
  tables hold, nothing else.

``bootstrap`` (as the superuser) creates the roles with their passwords and hands the database to the owner;
the migration ``0015_roles.sql`` (as the owner) grants the table privileges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

OWNER, CDC, LOADER, APP, AUDIT = "stir_owner", "stir_cdc", "stir_loader", "stir_app", "stir_audit"
ROLES: dict[str, str] = {OWNER: "LOGIN", CDC: "LOGIN REPLICATION", LOADER: "LOGIN", APP: "LOGIN", AUDIT: "LOGIN"}
SERVING_READERS = (APP,)  # the reconciliation reads serving as the loader that owns it


def bootstrap(superuser_dsn: str, database: str, passwords: Mapping[str, str]) -> None:
    """Create every role, or set the password of an existing one, for the roles in ``passwords`` (the
    password goes to the server as a SCRAM verifier, never as text); make ``stir_owner`` the owner of
    ``database``, of the tables and publications it holds from before the roles, and ``stir_loader`` the owner
    of each serving schema a loader created before (one with a ``stir_load_runs`` table). Idempotent."""
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        for role, attributes in ROLES.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None
            if role not in passwords:
                if not exists:
                    raise ValueError(f"role {role} does not exist and has no password to be created with")
                continue
            verifier = conn.pgconn.encrypt_password(passwords[role].encode(), role.encode(), b"scram-sha-256")
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(f"{verb} ROLE {{}} {attributes} PASSWORD {{}}").format(
                sql.Identifier(role), sql.Literal(verifier.decode())))  # fmt: skip
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(OWNER)))
    with psycopg.connect(superuser_dsn, dbname=database, autocommit=True) as conn:
        _hand_over_tables(conn, "public", OWNER)
        pubs = conn.execute("SELECT pubname FROM pg_publication WHERE pg_get_userbyid(pubowner) <> %s", (OWNER,))
        for (pub,) in pubs.fetchall():
            conn.execute(sql.SQL("ALTER PUBLICATION {} OWNER TO {}").format(sql.Identifier(pub), sql.Identifier(OWNER)))
        serving = conn.execute(
            "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
            "WHERE c.relname = 'stir_load_runs' AND pg_get_userbyid(n.nspowner) <> %s",
            (LOADER,),
        ).fetchall()
        for (schema,) in serving:
            conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), sql.Identifier(LOADER)))
            _hand_over_tables(conn, schema, LOADER)


def _hand_over_tables(conn: psycopg.Connection[Any], schema: str, role: str) -> None:
    """Every table of ``schema`` that ``role`` does not own yet, owned by it (with its identity and serial
    sequences, which follow their table)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
        "AND c.relkind IN ('r', 'p') AND pg_get_userbyid(c.relowner) <> %s",
        (schema, role),
    ).fetchall()
    for (table,) in rows:
        conn.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(sql.Identifier(schema), sql.Identifier(table),
                                                                    sql.Identifier(role)))  # fmt: skip


def grant_serving_reads(conn: psycopg.Connection[Any], schema: str) -> None:
    """The app may read every table of ``schema``, present and future (called by the loader that owns it; nothing
    when the role does not exist on this server)."""
    s = sql.Identifier(schema)
    for role in SERVING_READERS:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            continue
        r = sql.Identifier(role)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, r))
