"""`stir`: the one command-line entry point of Stir Stream (the composition root).

Each stage brings its own Typer sub-app (``<stage>/cli.py``); this module adds them under one command and holds
the local runtime's own commands (setup, up, down, status, logs, demo, report). Every pipeline process is
started as ``python -m deploy.cli <stage> <command>``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from clickhouse_ddl.cli import ch_app, warehouse_app
from clickhouse_ddl.settings import WarehouseSettings
from connectors.cli import app as connectors_app
from connectors.debezium import ConnectorSettings
from connectors.dispatch.cli import app as dispatch_app
from connectors.health import CdcProbe, DebeziumPosition
from connectors.ingest.cli import app as ingest_app
from connectors.replay.cli import app as replay_app
from schemas.cli import app as db_app
from schemas.clickhouse import connect
from schemas.console import err, fail, load_settings, out
from schemas.custody import Custody, hops
from schemas.roles import LOADER
from schemas.topics import Topology
from schemas.topics_cli import app as topics_app
from serving_loader import cli as loader_cli
from serving_loader.settings import LoaderSettings
from streams.cli import app as streams_app
from streams.settings import StreamsSettings

if TYPE_CHECKING:
    from deploy.local.settings import StackSettings

log = logging.getLogger("stir.custody")

app = typer.Typer(help="Stir Stream: real-time creator analytics pipeline.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
app.add_typer(connectors_app, name="connectors")
app.add_typer(ingest_app, name="ingest")
app.add_typer(streams_app, name="streams")
app.add_typer(ch_app, name="ch")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(loader_cli.app, name="load")
app.add_typer(replay_app, name="replay")
app.add_typer(dispatch_app, name="dispatch")
alerts_app = typer.Typer(help="Alert delivery (Alertmanager).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("config")
def alerts_config(
    out_file: Path | None = typer.Option(None, "--out", help="write it here (default: print it)"),
) -> None:
    """Alertmanager's configuration with the webhook of STIR_ALERT_WEBHOOK_URL."""
    from deploy.local.alerts import alertmanager_config

    try:
        text = alertmanager_config(stack_settings().alert_webhook_url)
    except ValueError as e:
        raise fail(str(e)) from None
    if out_file is None:
        print(text, end="")
    else:
        out_file.write_text(text)
        out.print(f"wrote {out_file}")


loader_cli.PROBES.append(lambda ls: CdcProbe(ls.connect_rest, lambda: ls.dsn(role=LOADER), auth=ls.connect_auth))


def _custody(ls: LoaderSettings) -> Custody:
    """The loader's source position: the CDC connector's committed offset, then the stream worker's and the
    warehouse's consumer groups (each stage's own settings name them)."""
    streams, warehouse = load_settings(StreamsSettings), load_settings(WarehouseSettings)
    source = DebeziumPosition(ls.connect_rest, load_settings(ConnectorSettings).name, ls.connect_auth)
    readers = warehouse.reading()
    log.info("custody follows %s, then the warehouse's groups %s", streams.app_id, [g for g, _ in readers])
    return Custody(ls.bootstrap, hops(Topology(ls), streams.app_id, readers), source)


loader_cli.CUSTODY.append(_custody)


def stack_settings() -> StackSettings:
    from deploy.local.settings import StackSettings

    return load_settings(StackSettings)


@app.command()
def setup() -> None:
    """Install what the local stack needs (PostgreSQL 15 binaries, Kafka/Connect/Debezium jars)."""
    from deploy.local.setup import setup as do_setup

    s = stack_settings()
    t0 = time.monotonic()
    try:
        with out.status("setting up the local runtime…"):
            do_setup(s, lambda m: out.print(f"  {m}"))
    except (RuntimeError, OSError) as e:
        raise fail(str(e)) from None
    out.print(f"setup done in {time.monotonic() - t0:.1f}s")


@app.command()
def up() -> None:
    """Start PostgreSQL, Kafka (KRaft) and Kafka Connect + Debezium; wait until all are ready."""
    from deploy.local.stack import StackError
    from deploy.local.stack import up as stack_up

    s = stack_settings()
    t0 = time.monotonic()
    try:
        with out.status("starting the local stack…"):
            stack_up(s, lambda m: out.print(f"  {m}"))
    except (StackError, RuntimeError, OSError) as e:
        raise fail(str(e)) from None
    out.print(f"stack ready in {time.monotonic() - t0:.1f}s")
    _print_status(s)


@app.command()
def down() -> None:
    """Stop the pipeline processes (`make demo --keep-running`) and what `stir up` started (by pid file)."""
    from deploy.local.pipeline import Pipeline
    from deploy.local.stack import down as stack_down

    s = stack_settings()
    stopped = Pipeline(s.state_dir / "run").down()
    stopped += stack_down(s)
    out.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command("clean-state")
def clean_state() -> None:
    """Delete the local stack's data: the state dir (STIR_STATE_DIR) and its PostgreSQL cluster; keeps the jar
    cache. Stop the stack first (`stir down`)."""
    import shutil

    from deploy.local.services import Postgres

    s = stack_settings()
    pg = Postgres(s)
    if pg.proc.running() is not None:
        raise fail("PostgreSQL of this state dir is running: run `stir down` first")
    removed = [p for p in (pg.data_dir.parent, s.state_dir) if p.exists()]
    for path in removed:
        shutil.rmtree(path)
    out.print(f"removed: {', '.join(map(str, removed))}" if removed else f"nothing to remove under {s.state_dir}")


@app.command()
def doctor() -> None:
    """Check what the local stack needs (Java, jars, PostgreSQL, the service user, disk, ports) and say what to fix."""
    from rich.table import Table

    from deploy.local.doctor import checks

    found = checks(stack_settings())
    table = Table("check", "", "detail")
    for c in found:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]fix[/]", c.detail)
    out.print(table)
    if not all(c.ok for c in found):
        raise fail("some checks failed: see the detail column")


@app.command()
def status() -> None:
    """A table of the local services: pid, port, healthy. Exits 1 if any is unhealthy."""
    s = stack_settings()
    if not _print_status(s):
        raise typer.Exit(1)


def _print_status(s: StackSettings) -> bool:
    from deploy.local.stack import status as stack_status

    rows = stack_status(s)
    table = Table("service", "pid", "port", "healthy")
    for r in rows:
        pid = "external" if r.external else (str(r.pid) if r.pid else "-")
        table.add_row(r.name, pid, str(r.port), "[green]yes[/]" if r.healthy else "[red]no[/]")
    from deploy.local.pipeline import COMPONENTS, Pipeline

    pipeline = Pipeline(s.state_dir / "run")
    for name in COMPONENTS:
        rec = pipeline.process(name).running()
        if rec is not None:
            table.add_row(name, str(rec.pid), "-", "[green]yes[/]")
    out.print(table)
    return all(r.healthy for r in rows)


@app.command()
def logs(
    service: str = typer.Argument(..., help="postgres | kafka | connect | any log under .stir/logs"),
    lines: int = typer.Option(50, "-n", "--lines", help="how many last lines"),
    follow: bool = typer.Option(False, "-f", "--follow", help="keep printing new lines"),
) -> None:
    """Print the last lines of a service's log."""
    s = stack_settings()
    path = s.state_dir / "logs" / f"{service}.log"
    if not path.exists():
        raise fail(f"no log at {path}")
    _tail(path, lines, follow)


def _tail(path: Path, lines: int, follow: bool) -> None:
    with open(path, errors="replace") as f:
        for line in deque(f, maxlen=lines):
            sys.stdout.write(line)
        sys.stdout.flush()
        while follow:
            line = f.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.25)


@app.command()
def demo(
    keep_running: bool = typer.Option(False, "--keep-running", help="leave the stack and the pipeline up"),
    profiles: int = typer.Option(300, min=1, help="creators in the workload"),
    days: int = typer.Option(60, min=1, help="days of daily profile snapshots"),
    posts: int = typer.Option(12, min=1, help="posts per creator"),
) -> None:
    """Run the main job end to end on the embedded warehouse and print a summary."""
    from deploy.local.demo import DemoSize, run

    try:
        run(keep_running, DemoSize(profiles=profiles, days=days, posts_per_profile=posts), out)
    except Exception as exc:
        raise fail(f"demo failed: {exc}") from None


@app.command()
def report(
    to: Path = typer.Option(Path("reports"), "--out", help="directory of the PNG charts (and report.html)"),
    window: float = typer.Option(30.0, min=2, help="seconds of /metrics sampling"),
    every: float = typer.Option(2.0, min=0.5, help="seconds between samples"),
    probes: int = typer.Option(
        10,
        min=0,
        max=500,
        help="freshness probes over the window: commits of "
        "`updated_at = now()` on profiles the serving table holds (0: write nothing)",
    ),
    html: bool = typer.Option(False, "--html", help="also write one HTML page with the figures and the charts"),
) -> None:
    """Render throughput, lag, freshness (commit → ClickHouse and → serving) and top movers from the live stack."""
    from rich.progress import Progress

    from deploy.local.pipeline import Pipeline
    from deploy.local.report.metrics import derive, sample_window, scrape
    from deploy.local.report.page import write
    from deploy.local.report.probes import Prober
    from deploy.local.report.warehouse import warehouse_figures
    from schemas.roles import APP, OWNER
    from serving_loader.settings import LoaderSettings

    stack = stack_settings()
    pipeline = Pipeline(stack.state_dir / "run")
    ports = {"worker": "STIR_STREAMS_METRICS_PORT", "warehouse": "STIR_CH_METRICS_PORT",
             "loader": "STIR_LOADER_METRICS_PORT"}  # fmt: skip
    env = pipeline.environment()
    urls = {name: f"http://127.0.0.1:{env.get(var, '0')}/metrics" for name, var in ports.items()}
    urls["ingest"] = f"{pipeline.ingest_url}/metrics"
    reachable = {}
    for name, url in urls.items():
        try:
            scrape(url)
            reachable[name] = url
        except Exception:
            err.print(f"[yellow]{name}: {url} does not answer; left out[/]")
    if not reachable:
        raise fail("no pipeline process answers on its /metrics port: start it (`make demo` with --keep-running)")
    try:
        ch = connect(stack)
    except Exception as exc:
        raise fail(f"the warehouse does not answer ({exc}): start the pipeline (`stir pipeline up`)") from None
    try:
        prober = None
        if probes:
            loader = LoaderSettings()  # the serving database the loader writes (read as the app where local)
            serving = loader.serving_dsn.get_secret_value() if loader.serving_dsn else stack.dsn(role=APP)
            prober = Prober(stack.dsn(role=OWNER), serving, loader.schema_name,
                            lambda q, p: list(ch.query(q, parameters=p).result_rows), probes, window)  # fmt: skip
            prober.start()
        with Progress(console=err) as progress:
            task = progress.add_task(f"sampling /metrics for {window:.0f} s", total=int(window / every) + 1)
            samples = sample_window(reachable, window, every, tick=lambda: progress.advance(task))
            if prober is not None:
                progress.add_task("freshness probes arriving", total=None)
                done = prober.join()
                if prober.error:
                    err.print(f"[yellow]freshness probes stopped: {prober.error}[/]")
                if len(done) < probes and not prober.error:
                    err.print(f"[yellow]{len(done)} of {probes} probes ran: fewer PostgreSQL profiles are served[/]")
                missing = sum(1 for p in done if not p.done)
                if missing:
                    err.print(f"[yellow]{missing} of {len(done)} probes did not reach ClickHouse and serving[/]")
        movers = warehouse_figures(lambda q: list(ch.query(q).result_rows))["movers"]
    finally:
        ch.close()
    for path in write(to, derive(samples), prober.probes if prober else [], movers, html, window):
        out.print(str(path))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
