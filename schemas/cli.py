"""`stir db`: the OLTP source schema in PostgreSQL."""

from __future__ import annotations

import typer
from rich.table import Table

from schemas.console import fail, load_settings, out
from schemas.roles import OWNER, ROLES
from schemas.settings import CoreSettings

app = typer.Typer(help="The OLTP source schema in PostgreSQL.", no_args_is_help=True)


@app.command("migrate")
def migrate() -> None:
    """Apply pending migrations (one transaction each); refuses edited applied ones."""
    from schemas.migrations import MigrationError
    from schemas.oltp_migrate import migrate as do_migrate

    core = load_settings(CoreSettings)
    try:
        done = do_migrate(
            core.dsn(role=OWNER),
            on_applied=lambda m, sec: out.print(f"  applied {m.version:04d}_{m.name} ({sec * 1000:.0f} ms)"),
        )
    except (MigrationError, OSError) as e:
        raise fail(str(e)) from None
    out.print(f"{len(done)} migration(s) applied" if done else "schema is up to date")


@app.command("status")
def status() -> None:
    """Each migration: applied, pending, modified (file edited after apply) or missing."""
    from schemas.oltp_migrate import migration_status

    try:
        rows = migration_status(load_settings(CoreSettings).dsn(role=OWNER))
    except OSError as e:
        raise fail(str(e)) from None
    table = Table("version", "name", "state")
    colors = {"applied": "green", "pending": "yellow", "modified": "red", "missing": "red"}
    for r in rows:
        table.add_row(f"{r.version:04d}", r.name, f"[{colors[r.state]}]{r.state}[/]")
    out.print(table)
    if any(r.state in ("modified", "missing") for r in rows):
        raise typer.Exit(1)


@app.command("bootstrap")
def bootstrap(rotate: bool = typer.Option(False, "--rotate", help="also set new passwords for existing roles")) -> None:
    """As the superuser: create the component roles (owner, CDC, loader, app) with generated passwords (kept in
    the secrets dir) and hand the database to the owner. Existing roles keep their passwords unless --rotate.
    `stir up` does this for the local server."""
    import psycopg

    from schemas import roles
    from schemas.secrets import ensure_secret

    core = load_settings(CoreSettings)
    try:
        with psycopg.connect(core.dsn(), autocommit=True) as conn:
            existing = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                                    (list(ROLES),)).fetchall()}  # fmt: skip
        chosen = [r for r in ROLES if rotate or r not in existing]
        if rotate:
            for role in chosen:
                core.pg_role_password_file(role).unlink(missing_ok=True)
        passwords = {role: ensure_secret(core.pg_role_password_file(role)) for role in chosen}
        roles.bootstrap(core.dsn(), core.pg_database, passwords)
    except OSError as e:
        raise fail(str(e)) from None
    except psycopg.Error as e:
        raise fail(f"bootstrap failed: {type(e).__name__}: {e}") from None
    kept = [r for r in ROLES if r not in chosen]
    out.print(f"roles ready; new passwords in {core.secrets_dir}/pg-<role>.password for: {', '.join(chosen) or 'none'}"
              + (f"; unchanged: {', '.join(kept)}" if kept else ""))  # fmt: skip
