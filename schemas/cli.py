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
def bootstrap() -> None:
    """As the superuser: create the component roles (owner, CDC, loader, app) with generated passwords (kept in
    the secrets dir) and hand the database to the owner. `stir up` does this for the local server."""
    from schemas import roles
    from schemas.secrets import ensure_secret

    core = load_settings(CoreSettings)
    try:
        passwords = {role: ensure_secret(core.pg_role_password_file(role)) for role in ROLES}
        roles.bootstrap(core.dsn(), core.pg_database, passwords)
    except OSError as e:
        raise fail(str(e)) from None
    except Exception as e:  # psycopg's errors: say which and stop
        raise fail(f"bootstrap failed: {type(e).__name__}: {e}") from None
    out.print(f"roles {', '.join(ROLES)} ready; passwords in {core.secrets_dir}/pg-<role>.password")
