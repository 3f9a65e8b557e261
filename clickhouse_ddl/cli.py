"""`stir ch` (the warehouse schema) and `stir warehouse` (the embedded warehouse process)."""

from __future__ import annotations

import typer
from rich.table import Table

from clickhouse_ddl.backends import ConnectBackend
from clickhouse_ddl.render import KafkaSource
from clickhouse_ddl.settings import WarehouseSettings
from schemas.clickhouse import connect
from schemas.console import fail, load_settings, out

ch_app = typer.Typer(help="The warehouse schema (ClickHouse migrations).", no_args_is_help=True)
warehouse_app = typer.Typer(help="The embedded warehouse (chdb + bridge + HTTP endpoint).", no_args_is_help=True)


def kafka_source(ws: WarehouseSettings) -> KafkaSource:
    return KafkaSource(ws.bootstrap, ws.topic_prefix, ws.kafka_group, ws.kafka_num_consumers,
                       ws.kafka_flush_interval_ms)  # fmt: skip


def backend(ws: WarehouseSettings) -> ConnectBackend:
    try:
        return ConnectBackend(connect(ws))
    except Exception as exc:
        hint = "" if ws.ch_url else " (is `stir warehouse run` running?)"
        raise fail(f"cannot reach ClickHouse at {ws.ch_http_url}{hint}: {exc}") from None


@ch_app.command("migrate")
def migrate() -> None:
    """Apply pending warehouse migrations (server: Kafka engine sources; embedded: the running warehouse)."""
    from clickhouse_ddl.runner import migrate as do_migrate

    ws = load_settings(WarehouseSettings)
    try:
        done = do_migrate(backend(ws), ws.rendering, kafka_source(ws), cluster=ws.cluster)
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
def render_cmd(rendering: str = typer.Option("server", help="server | embedded")) -> None:
    """Print every migration rendered for a server or for the embedded warehouse."""
    from clickhouse_ddl.render import render
    from clickhouse_ddl.runner import available

    if rendering not in ("server", "embedded"):
        raise fail("--rendering must be server or embedded", 2)
    ws = load_settings(WarehouseSettings)
    for m in available():
        out.print(f"-- {m.path.name}", highlight=False)
        out.print(render(m.sql, rendering, kafka_source(ws)), highlight=False, markup=False)  # type: ignore[arg-type]


@warehouse_app.command("run")
def run() -> None:
    """Run the embedded warehouse in the foreground: chdb, migrations, bridge from Kafka, HTTP endpoint."""
    import logging

    from clickhouse_ddl.warehouse import run as run_warehouse

    ws = load_settings(WarehouseSettings)
    if ws.rendering == "server":
        raise fail("STIR_CH_URL points at a ClickHouse server: its Kafka engine reads the topics, no bridge", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_warehouse(ws, ws.bootstrap)
