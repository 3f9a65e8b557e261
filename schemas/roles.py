"""PostgreSQL roles of least privilege, one per component (the superuser only bootstraps them):

- ``stir_owner``: owns the OLTP database and its tables, runs the migrations, creates the CDC publication;
- ``stir_cdc``: Debezium's login (REPLICATION; SELECT on the published tables, the heartbeat row);
- ``stir_loader``: the serving loader; may create schemas (it owns the serving schema it creates), reads no OLTP
  table;
- ``stir_app``: the app's reader: SELECT on the serving tables only (granted by the loader).

``bootstrap`` (as the superuser) creates the roles with their passwords and hands the database to the owner;
the migration ``0015_roles.sql`` (as the owner) grants the table privileges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

OWNER, CDC, LOADER, APP = "stir_owner", "stir_cdc", "stir_loader", "stir_app"
ROLES: dict[str, str] = {OWNER: "LOGIN", CDC: "LOGIN REPLICATION", LOADER: "LOGIN", APP: "LOGIN"}


def bootstrap(superuser_dsn: str, database: str, passwords: Mapping[str, str]) -> None:
    """Create or update every role with its password, make ``stir_owner`` the owner of ``database`` and of the
    tables it already holds in ``public`` (a database created before the roles existed). Idempotent."""
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        for role, attributes in ROLES.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(f"{verb} ROLE {{}} {attributes} PASSWORD {{}}").format(
                sql.Identifier(role), sql.Literal(passwords[role])))  # fmt: skip
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(OWNER)))
    with psycopg.connect(superuser_dsn, dbname=database, autocommit=True) as conn:
        owned = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_get_userbyid(c.relowner) <> %s",
            (OWNER,),
        ).fetchall()
        for (table,) in owned:
            conn.execute(
                sql.SQL("ALTER TABLE public.{} OWNER TO {}").format(sql.Identifier(table), sql.Identifier(OWNER))
            )


def grant_serving_reads(conn: psycopg.Connection[Any], schema: str) -> None:
    """The app role may read every table of ``schema``, present and future (called by the loader that owns it;
    nothing when the role does not exist on this server)."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP,)).fetchone() is None:
        return
    s, app = sql.Identifier(schema), sql.Identifier(APP)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, app))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, app))
    conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, app))
