"""`stir ch` (the warehouse schema) and `stir warehouse` (the embedded warehouse process)."""

from __future__ import annotations

import typer
from rich.table import Table

from clickhouse_ddl.backends import ConnectBackend
from clickhouse_ddl.settings import WarehouseSettings
from schemas.clickhouse import connect
from schemas.console import fail, load_settings, out

ch_app = typer.Typer(help="The warehouse schema (ClickHouse migrations).", no_args_is_help=True)
warehouse_app = typer.Typer(help="The embedded warehouse (chdb, its Kafka engine, the HTTP endpoint).",
                            no_args_is_help=True)  # fmt: skip


def backend(ws: WarehouseSettings) -> ConnectBackend:
    try:
        return ConnectBackend(connect(ws))
    except Exception as exc:
        hint = "" if ws.ch_url else " (is `stir warehouse run` running?)"
        raise fail(f"cannot reach ClickHouse at {ws.ch_http_url}{hint}: {exc}") from None


@ch_app.command("migrate")
def migrate() -> None:
    """Apply pending warehouse migrations (a server, or the running embedded warehouse), with the Kafka engine's
    fronts dropped while they run and made again after them."""
    from clickhouse_ddl.kafka_front import migrate_behind_fronts

    ws = load_settings(WarehouseSettings)
    try:
        done = migrate_behind_fronts(backend(ws), ws.rendering, ws.kafka_source(), cluster=ws.cluster)
    except Exception as exc:
        raise fail(str(exc)) from None
    out.print(f"applied {len(done)} migration(s) ({ws.rendering}): " + ", ".join(m.path.name for m in done))


@ch_app.command("status")
def status() -> None:
    """Show applied, pending, modified and missing warehouse migrations."""
    from clickhouse_ddl.runner import migration_status

    ws = load_settings(WarehouseSettings)
    rows = migration_status(backend(ws), cluster=ws.cluster)
    table = Table("version", "name", "state")
    for r in rows:
        table.add_row(f"{r.version:04d}", r.name, r.state)
    out.print(table)
    if any(r.state in ("modified", "missing") for r in rows):
        raise typer.Exit(1)


@ch_app.command("render")
def render_cmd() -> None:
    """Print every migration as it runs, then the Kafka engine's fronts made after them (this environment's
    brokers, prefix and groups)."""
    from clickhouse_ddl.kafka_front import front
    from clickhouse_ddl.render import render
    from clickhouse_ddl.runner import all_sources, available

    ws = load_settings(WarehouseSettings)
    for m in available():
        out.print(f"-- {m.path.name}", highlight=False)
        out.print(render(m.sql), highlight=False, markup=False)
    kafka = ws.kafka_source()
    out.print("-- the Kafka engine's fronts (made after the migrations)", highlight=False)
    for source in all_sources():
        out.print(";\n".join(front(source, kafka)) + ";", highlight=False, markup=False)


@ch_app.command("delete-range")
def delete_range(
    table: str = typer.Option(..., help="a table of the marts' database, e.g. profile_daily"),
    column: str = typer.Option("day", help="its Date or DateTime column"),
    start: str = typer.Option(..., "--from", help="first day (ISO date or time, inclusive)"),
    end: str = typer.Option(..., "--to", help="end (ISO date or time, exclusive)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Delete a table's rows whose COLUMN is in [FROM, TO) and wait until it is done: the first step of
    rebuilding a date range from the raw topics (docs/runbooks.md)."""
    from datetime import datetime

    for name, value in (("--from", start), ("--to", end)):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise fail(f"{name} {value!r} is not an ISO date or time, e.g. 2026-10-01", 2) from None
    ws = load_settings(WarehouseSettings)
    client = backend(ws).client
    db = ws.ch_database
    lookup = "SELECT type FROM system.columns WHERE database = {db:String} AND table = {t:String} AND name = {c:String}"
    found = client.query(lookup, parameters={"db": db, "t": table, "c": column}).result_rows
    if not found:
        raise fail(f"no column {column!r} in table {db}.{table}: name a table of the marts and its date column", 2)
    ctype = str(found[0][0])
    if not ctype.removeprefix("Nullable(").startswith(("Date", "DateTime")):
        raise fail(f"{db}.{table}.{column} is {ctype}, not a Date or DateTime", 2)
    where = f"`{column}` >= CAST({{f:String}} AS {ctype}) AND `{column}` < CAST({{t:String}} AS {ctype})"
    params = {"f": start.replace("T", " ").removesuffix("Z"), "t": end.replace("T", " ").removesuffix("Z")}
    rows = client.query(f"SELECT count() FROM `{db}`.`{table}` WHERE {where}", parameters=params).result_rows[0][0]
    if not yes and not typer.confirm(f"Delete {rows} row(s) of {db}.{table} with {column} in [{start}, {end})?"):
        raise fail("aborted", 1)
    client.command(f"ALTER TABLE `{db}`.`{table}` DELETE WHERE {where}", parameters=params,
                   settings={"mutations_sync": 2})  # fmt: skip
    out.print(f"deleted {rows} row(s) of {db}.{table} with {column} in [{start}, {end})")


@warehouse_app.command("groups")
def groups() -> None:
    """List the consumer groups that read the topics into the warehouse, with their topics and lag."""
    from schemas.kafka import group_lag

    ws = load_settings(WarehouseSettings)
    table = Table("group", "topics", "lag")
    for group, topics in ws.reading():
        try:
            lag = group_lag(ws.bootstrap, group, topics)
        except Exception as exc:
            raise fail(f"cannot read the groups' offsets from Kafka at {ws.bootstrap}: {exc}") from None
        table.add_row(group, ", ".join(topics), "never committed" if lag is None else str(lag))
    out.print(table)


@warehouse_app.command("run")
def run() -> None:
    """Run the embedded warehouse in the foreground: chdb, migrations, the Kafka engine, HTTP endpoint."""
    import logging

    from clickhouse_ddl.warehouse import run as run_warehouse

    ws = load_settings(WarehouseSettings)
    if ws.rendering == "server":
        raise fail(
            "STIR_CH_URL points at a ClickHouse server: run `stir ch migrate` there; its Kafka engine reads the topics",
            2,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_warehouse(ws, ws.bootstrap)
