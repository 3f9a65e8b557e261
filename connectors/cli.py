"""`stir connectors`: the Debezium connector on Kafka Connect."""

from __future__ import annotations

import typer
from rich.table import Table

from connectors.connect_client import ConnectClient, ConnectError
from connectors.debezium import ConnectorSettings, apply, connector_config
from schemas.console import fail, load_settings, out
from schemas.roles import OWNER

app = typer.Typer(help="Debezium connectors on Kafka Connect.", no_args_is_help=True)


@app.command("apply")
def apply_cmd(timeout: float = typer.Option(90, help="seconds to wait for RUNNING")) -> None:
    """Publication + `PUT /connectors/<name>/config` (idempotent), then wait until RUNNING."""
    cfg = load_settings(ConnectorSettings)
    with ConnectClient(cfg.connect_rest, cfg.connect_auth()) as client:
        try:
            state = apply(client, cfg, cfg.dsn(role=OWNER), connector_config(cfg), timeout)
        except (ConnectError, OSError) as e:
            raise fail(str(e)) from None
    out.print(f"{cfg.name}: {state['connector']['state']} ({len(state['tasks'])} task(s))")


@app.command("status")
def status() -> None:
    """State of every connector and task."""
    cfg = load_settings(ConnectorSettings)
    table = Table("connector", "state", "tasks")
    ok = True
    with ConnectClient(cfg.connect_rest, cfg.connect_auth()) as client:
        for name in client.list():
            st = client.status(name) or {}
            tasks = ", ".join(f"{t['id']}:{t['state']}" for t in st.get("tasks", []))
            state = st.get("connector", {}).get("state", "?")
            ok &= state == "RUNNING" and "FAILED" not in tasks
            table.add_row(name, state, tasks)
    out.print(table)
    if not ok:
        raise typer.Exit(1)


@app.command("restart")
def restart(name: str = typer.Argument(None, help="connector (default: the CDC connector)")) -> None:
    """Restart a connector and its tasks, then wait until RUNNING."""
    cfg = load_settings(ConnectorSettings)
    with ConnectClient(cfg.connect_rest, cfg.connect_auth()) as client:
        try:
            client.restart(name or cfg.name)
            client.wait_running(name or cfg.name)
        except ConnectError as e:
            raise fail(str(e)) from None
    out.print(f"{name or cfg.name}: RUNNING")
