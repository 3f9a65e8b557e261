"""`stir`: the one command-line entry point of Stir Stream."""

from __future__ import annotations

import sys
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import Progress

    from clickhouse_ddl.backends import ConnectBackend
    from clickhouse_ddl.render import KafkaSource
    from clickhouse_ddl.settings import WarehouseSettings
    from connectors.debezium import ConnectorSettings
    from connectors.ingest.settings import IngestSettings
    from deploy.local.settings import StackSettings
    from serving_loader.scheduler import Loader

app = typer.Typer(help="Stir Stream: real-time creator analytics pipeline.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """Build a component's settings; a bad value exits 2 naming its environment variable."""
    try:
        return cls()
    except ValidationError as e:
        prefix = str(cls.model_config.get("env_prefix", ""))
        fields = ", ".join(f"{prefix}{'_'.join(str(p) for p in x['loc']).upper()}: {x['msg']}" for x in e.errors())
        raise fail(f"bad configuration: {fields}", 2) from None


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


db_app = typer.Typer(help="The OLTP source schema in PostgreSQL.", no_args_is_help=True)
connectors_app = typer.Typer(help="Debezium connectors on Kafka Connect.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(connectors_app, name="connectors")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (one transaction each); refuses edited applied ones."""
    from schemas.migrations import MigrationError
    from schemas.oltp_migrate import migrate

    s = stack_settings()
    try:
        done = migrate(
            s.dsn(), on_applied=lambda m, sec: out.print(f"  applied {m.version:04d}_{m.name} ({sec * 1000:.0f} ms)")
        )
    except (MigrationError, OSError) as e:
        raise fail(str(e)) from None
    out.print(f"{len(done)} migration(s) applied" if done else "schema is up to date")


@db_app.command("status")
def db_status() -> None:
    """Each migration: applied, pending, modified (file edited after apply) or missing."""
    from schemas.oltp_migrate import migration_status

    rows = migration_status(stack_settings().dsn())
    table = Table("version", "name", "state")
    colors = {"applied": "green", "pending": "yellow", "modified": "red", "missing": "red"}
    for r in rows:
        table.add_row(f"{r.version:04d}", r.name, f"[{colors[r.state]}]{r.state}[/]")
    out.print(table)
    if any(r.state in ("modified", "missing") for r in rows):
        raise typer.Exit(1)


def _connector_settings() -> ConnectorSettings:
    from connectors.debezium import ConnectorSettings

    return load_settings(ConnectorSettings)


@connectors_app.command("apply")
def connectors_apply(timeout: float = typer.Option(90, help="seconds to wait for RUNNING")) -> None:
    """Publication + `PUT /connectors/<name>/config` (idempotent), then wait until RUNNING."""
    from connectors.connect_client import ConnectClient, ConnectError
    from connectors.debezium import apply, config_for

    s, cfg = stack_settings(), _connector_settings()
    with ConnectClient(s.connect_rest) as client:
        try:
            state = apply(client, cfg, s.dsn(), config_for(s, cfg), timeout)
        except ConnectError as e:
            raise fail(str(e)) from None
    out.print(f"{cfg.name}: {state['connector']['state']} ({len(state['tasks'])} task(s))")


@connectors_app.command("status")
def connectors_status() -> None:
    """State of every connector and task."""
    from connectors.connect_client import ConnectClient

    s = stack_settings()
    table = Table("connector", "state", "tasks")
    ok = True
    with ConnectClient(s.connect_rest) as client:
        for name in client.list():
            st = client.status(name) or {}
            tasks = ", ".join(f"{t['id']}:{t['state']}" for t in st.get("tasks", []))
            state = st.get("connector", {}).get("state", "?")
            ok &= state == "RUNNING" and "FAILED" not in tasks
            table.add_row(name, state, tasks)
    out.print(table)
    if not ok:
        raise typer.Exit(1)


@connectors_app.command("restart")
def connectors_restart(name: str = typer.Argument(None, help="connector (default: the CDC connector)")) -> None:
    """Restart a connector and its tasks, then wait until RUNNING."""
    from connectors.connect_client import ConnectClient, ConnectError

    s, cfg = stack_settings(), _connector_settings()
    with ConnectClient(s.connect_rest) as client:
        try:
            client.restart(name or cfg.name)
            client.wait_running(name or cfg.name)
        except ConnectError as e:
            raise fail(str(e)) from None
    out.print(f"{name or cfg.name}: RUNNING")


ingest_app = typer.Typer(help="The HTTP ingest API for producers.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


def _ingest_settings() -> IngestSettings:
    from connectors.ingest.settings import IngestSettings

    return load_settings(IngestSettings)


@ingest_app.command("serve")
def ingest_serve() -> None:
    """Run the ingest API (POST /v1/events, /healthz, /metrics)."""
    from connectors.ingest.app import serve

    s, cfg = stack_settings(), _ingest_settings()
    err.print(f"ingest API on http://{cfg.host}:{cfg.port} -> Kafka {s.bootstrap}")
    serve(cfg, s.bootstrap)


@ingest_app.command("token")
def ingest_token(
    name: str = typer.Argument(..., help="who the token is for, e.g. scraper-eu"),
    scope: list[str] = typer.Option(["*"], "--scope", help="event-type pattern it may write (repeatable)"),
    revoke: bool = typer.Option(False, "--revoke", help="revoke the tokens of this name instead"),
) -> None:
    """Create a bearer token (printed once; stored hashed) or revoke one."""
    from connectors.ingest.tokens import TokenStore

    store = TokenStore(_ingest_settings().tokens_file)
    if revoke:
        out.print(f"revoked {store.revoke(name)} token(s) named {name}")
        return
    print(store.create(name, scope))


streams_app = typer.Typer(help="The stream processors (Faust agents).", no_args_is_help=True)
app.add_typer(streams_app, name="streams")


@streams_app.command("worker")
def streams_worker() -> None:
    """Run one Faust worker (all agents) in the foreground."""
    from streams.app import run_worker
    from streams.settings import StreamsSettings

    s = stack_settings()
    run_worker(load_settings(StreamsSettings), s.bootstrap)


ch_app = typer.Typer(help="The warehouse schema (ClickHouse migrations).", no_args_is_help=True)
app.add_typer(ch_app, name="ch")
warehouse_app = typer.Typer(help="The embedded warehouse (chdb + bridge + HTTP endpoint).", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")


def warehouse_settings() -> WarehouseSettings:
    from clickhouse_ddl.settings import WarehouseSettings

    ws = load_settings(WarehouseSettings)
    if ws.kafka_bootstrap is None:
        ws = ws.model_copy(update={"kafka_bootstrap": stack_settings().bootstrap})
    return ws


def _kafka_source(ws: WarehouseSettings) -> KafkaSource:
    from clickhouse_ddl.render import KafkaSource

    return KafkaSource(str(ws.kafka_bootstrap), ws.topic_prefix, ws.kafka_group, ws.kafka_num_consumers,
                       ws.kafka_flush_interval_ms)  # fmt: skip


def _ch_backend(ws: WarehouseSettings) -> ConnectBackend:
    from clickhouse_ddl.backends import ConnectBackend, connect

    try:
        return ConnectBackend(connect(ws))
    except Exception as exc:
        hint = "" if ws.url else " (is `stir warehouse run` running?)"
        raise fail(f"cannot reach ClickHouse at {ws.http_url}{hint}: {exc}") from None


@ch_app.command("migrate")
def ch_migrate() -> None:
    """Apply pending warehouse migrations (server: Kafka engine sources; embedded: the running warehouse)."""
    from clickhouse_ddl.runner import migrate

    ws = warehouse_settings()
    try:
        done = migrate(_ch_backend(ws), ws.rendering, _kafka_source(ws))
    except Exception as exc:
        raise fail(str(exc)) from None
    out.print(f"applied {len(done)} migration(s) ({ws.rendering}): " + ", ".join(m.path.name for m in done))


@ch_app.command("status")
def ch_status() -> None:
    """Show applied, pending, modified and missing warehouse migrations."""
    from clickhouse_ddl.runner import migration_status

    rows = migration_status(_ch_backend(warehouse_settings()))
    table = Table("version", "name", "state")
    for r in rows:
        table.add_row(f"{r.version:04d}", r.name, r.state)
    out.print(table)
    if any(r.state in ("modified", "missing") for r in rows):
        raise typer.Exit(1)


@ch_app.command("render")
def ch_render(
    rendering: str = typer.Option("server", help="server | embedded"),
) -> None:
    """Print every migration rendered for a server or for the embedded warehouse."""
    from clickhouse_ddl.render import render
    from clickhouse_ddl.runner import available

    if rendering not in ("server", "embedded"):
        raise fail("--rendering must be server or embedded", 2)
    ws = warehouse_settings()
    for m in available():
        out.print(f"-- {m.path.name}", highlight=False)
        out.print(render(m.sql, rendering, _kafka_source(ws)), highlight=False, markup=False)  # type: ignore[arg-type]


@warehouse_app.command("run")
def warehouse_run() -> None:
    """Run the embedded warehouse in the foreground: chdb, migrations, bridge from Kafka, HTTP endpoint."""
    import logging

    from clickhouse_ddl.warehouse import run

    ws = warehouse_settings()
    if ws.rendering == "server":
        raise fail("STIR_CH_URL points at a ClickHouse server: its Kafka engine reads the topics, no bridge", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(ws, str(ws.kafka_bootstrap))


load_app = typer.Typer(help="The serving loader (ClickHouse marts → PostgreSQL serving tables).", no_args_is_help=True)
app.add_typer(load_app, name="load")


def _loader() -> Loader:
    from clickhouse_ddl.backends import connect
    from serving_loader.scheduler import Loader
    from serving_loader.settings import LoaderSettings

    ls = load_settings(LoaderSettings)
    ws = warehouse_settings()
    dsn = ls.pg_dsn.get_secret_value() if ls.pg_dsn else stack_settings().dsn()
    try:
        ch = connect(ws)
    except Exception as exc:
        hint = "" if ws.url else " (is `stir warehouse run` running?)"
        raise fail(f"cannot reach ClickHouse at {ws.http_url}{hint}: {exc}") from None
    connect_url = stack_settings().connect_rest if ls.connect_url is None else ls.connect_url
    return Loader(ls, dsn, ch, connect_url=connect_url or None)


@load_app.command("run")
def load_run() -> None:
    """Refresh every serving table at its spec's interval until SIGTERM/Ctrl-C."""
    import logging
    import signal
    import threading

    from prometheus_client import start_http_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loader = _loader()
    try:
        loader.specs()
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    if loader.s.metrics_port:
        start_http_server(loader.s.metrics_port, addr="127.0.0.1")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        loader.run(stop)
    finally:
        loader.close()


@load_app.command("once")
def load_once(spec: str = typer.Argument(..., help="spec name (see `stir load status`)")) -> None:
    """Load one spec now and swap it in (or refuse the swap)."""
    from serving_loader.specs import by_name

    specs = by_name()
    if spec not in specs:
        raise fail(f"unknown spec {spec!r}; known: {', '.join(specs)}", 2)
    loader = _loader()
    try:
        r = loader.once(specs[spec])
    except Exception as exc:
        raise fail(f"{spec}: {exc}") from None
    finally:
        loader.close()
    out.print(f"{spec}: {r.outcome}, {r.rows} rows (live before: {r.live_rows_before}); "
              + ", ".join(f"{k} {v:.3f}s" for k, v in r.phases.items()))  # fmt: skip
    if r.outcome == "refused":
        raise typer.Exit(1)


@load_app.command("status")
def load_status() -> None:
    """Per spec: interval, live rows, last run and its outcome."""
    import psycopg

    from serving_loader.settings import LoaderSettings
    from serving_loader.specs import SPECS

    ls = load_settings(LoaderSettings)
    dsn = ls.pg_dsn.get_secret_value() if ls.pg_dsn else stack_settings().dsn()
    table = Table("spec", "interval", "live rows", "last run", "outcome", "rows", "swap s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        has_runs = conn.execute("SELECT to_regclass(%s)", (f"{ls.schema_name}.stir_load_runs",)).fetchone()
        for spec in SPECS:
            live = conn.execute("SELECT to_regclass(%s)", (f"{ls.schema_name}.{spec.name}",)).fetchone()
            n = "-"
            if live and live[0]:
                n = str(conn.execute(f'SELECT count(*) FROM {ls.schema_name}."{spec.name}"').fetchone()[0])  # type: ignore[index]
            last = None
            if has_runs and has_runs[0]:
                last = conn.execute(
                    f"SELECT finished_at, outcome, rows, swap_s FROM {ls.schema_name}.stir_load_runs "
                    "WHERE spec = %s ORDER BY finished_at DESC LIMIT 1", (spec.name,)).fetchone()  # fmt: skip
            table.add_row(spec.name, f"{spec.interval_s:g}s", n, str(last[0]) if last else "-",
                          last[1] if last else "-", str(last[2]) if last else "-",
                          f"{last[3]:.3f}" if last and last[3] is not None else "-")  # fmt: skip
    out.print(table)


replay_app = typer.Typer(help="Dump Kafka topic ranges to files and replay them (backfills).", no_args_is_help=True)
app.add_typer(replay_app, name="replay")


def _bar() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err)  # fmt: skip


@replay_app.command("dump")
def replay_dump(
    topic: str = typer.Option(..., help="topic to read"),
    out_file: Path = typer.Option(..., "--out", help="file to write"),
    start: str = typer.Option("0", "--from", help="offset, ISO time or 'now' (inclusive)"),
    end: str = typer.Option("now", "--to", help="offset, ISO time or 'now' (exclusive)"),
    partition: int = typer.Option(None, help="only this partition"),
    key: str = typer.Option(None, help="only records with this key"),
    fmt: str = typer.Option("avro", "--format", help="avro | jsonl (console tools: key<separator>value)"),
    separator: str = typer.Option("\t", "--key-separator", help="jsonl key separator (console default: tab)"),
) -> None:
    """Dump a topic range to an Avro container file (keys, values, headers, timestamps, partitions, offsets,
    the contract in the metadata) or to console-format lines."""
    from connectors.replay.dump import dump, parse_bound

    if fmt not in ("avro", "jsonl"):
        raise fail("--format must be avro or jsonl", 2)
    try:
        bounds = parse_bound(start), parse_bound(end)
    except ValueError as e:
        raise fail(str(e), 2) from None
    sep = separator.encode().decode("unicode_escape")
    with _bar() as bar:
        task = bar.add_task(f"dump {topic}", total=None)
        try:
            r = dump(stack_settings().bootstrap, topic, out_file, *bounds, partition=partition, key=key, fmt=fmt,
                     separator=sep, on_total=lambda n: bar.update(task, total=n),
                     on_record=lambda n: bar.advance(task, n))  # fmt: skip
        except (ValueError, OSError) as e:
            raise fail(str(e)) from None
    rate = r.records / r.seconds if r.seconds else 0
    out.print(f"{r.records} records ({fmt}) from {topic} to {out_file} in {r.seconds:.2f}s ({rate:,.0f}/s); "
              f"ranges {', '.join(f'{p}:{s}-{e}' for p, (s, e) in sorted(r.ranges.items()))}")  # fmt: skip


@replay_app.command("load")
def replay_load(
    in_file: Path = typer.Option(..., "--in", exists=True, dir_okay=False, help="replay file (avro or jsonl)"),
    topic: str = typer.Option(..., help="topic to write"),
    rate: float = typer.Option(None, min=1, help="records per second (default: as fast as possible)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate only, produce nothing"),
    preserve_partitions: bool = typer.Option(False, "--preserve-partitions", help="write to the original partitions"),
    fmt: str = typer.Option("auto", "--format", help="auto | avro | jsonl"),
    separator: str = typer.Option("\t", "--key-separator", help="jsonl key separator"),
    dlq_topic: str = typer.Option("dlq.replay", help="where records that break the contract go"),
    restart: bool = typer.Option(False, "--restart", help="ignore the checkpoint and load from the start"),
) -> None:
    """Produce a replay file's records with their keys, headers and timestamps; invalid records go to the DLQ;
    Ctrl-C checkpoints, and the same command resumes without duplicating acknowledged records."""
    from connectors.replay.load import AlreadyLoaded, LoadInterrupted, load

    sep = separator.encode().decode("unicode_escape")
    with _bar() as bar:
        task = bar.add_task(f"{'validate' if dry_run else 'load'} {in_file.name} → {topic}", total=None)
        try:
            r = load(stack_settings().bootstrap, in_file, topic, fmt=fmt, separator=sep, rate=rate, dry_run=dry_run,
                     preserve_partitions=preserve_partitions, dlq_topic=dlq_topic, restart=restart,
                     on_record=lambda n: bar.advance(task, n))  # fmt: skip
        except LoadInterrupted as e:
            raise fail(str(e), 130) from None
        except AlreadyLoaded as e:
            raise fail(str(e), 3) from None
        except (ValueError, OSError, RuntimeError) as e:
            raise fail(str(e)) from None
    verb = "valid" if dry_run else "sent"
    out.print(f"{r.total} records read; {r.total - r.invalid - r.resumed_past if dry_run else r.sent} {verb}, "
              f"{r.invalid} invalid{'' if dry_run else f' (to {dlq_topic})'}, {r.resumed_past} already delivered "
              f"before; {r.seconds:.2f}s")  # fmt: skip


@replay_app.command("reset-offsets")
def replay_reset_offsets(
    group: str = typer.Option(..., help="consumer group"),
    topic: str = typer.Option(..., help="topic"),
    to_time: str = typer.Option(..., "--to-time", help="ISO time: the first offset at or after it"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Move a group's committed offsets on a topic to a time, to re-process from there."""
    from connectors.replay.dump import parse_bound
    from connectors.replay.offsets import apply, plan

    at = parse_bound(to_time)
    if not isinstance(at, datetime):
        raise fail("--to-time must be an ISO time, e.g. 2026-11-01T00:00:00Z", 2)
    bootstrap = stack_settings().bootstrap
    try:
        moves = plan(bootstrap, group, topic, at)
    except (ValueError, RuntimeError) as e:
        raise fail(str(e)) from None
    table = Table("partition", "committed", "new offset")
    for p, cur, new in moves:
        table.add_row(str(p), "-" if cur is None else str(cur), str(new))
    out.print(table)
    if not yes and not typer.confirm(f"Reset {group} on {topic} to {at.isoformat()}?"):
        raise fail("aborted", 1)
    try:
        apply(bootstrap, group, topic, moves)
    except Exception as e:
        raise fail(str(e)) from None
    out.print(f"{group}: offsets of {topic} reset to {at.isoformat()}")


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
    to: Path = typer.Option(Path("reports"), "--out", help="directory of the PNG charts"),
    window: float = typer.Option(30.0, min=2, help="seconds of /metrics sampling"),
    every: float = typer.Option(2.0, min=0.5, help="seconds between samples"),
) -> None:
    """Render throughput, lag, freshness and top movers as PNG charts from the live stack."""
    from rich.progress import Progress

    from clickhouse_ddl.backends import connect
    from deploy.local.pipeline import Pipeline
    from deploy.local.report import derive, render, sample_window, scrape, warehouse_figures

    pipeline = Pipeline(stack_settings().state_dir / "run")
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
    with Progress(console=err) as progress:
        task = progress.add_task(f"sampling /metrics for {window:.0f} s", total=int(window / every) + 1)
        samples = sample_window(reachable, window, every, tick=lambda: progress.advance(task))
    try:
        ch = connect(warehouse_settings())
        wh = warehouse_figures(ch)
        ch.close()
    except Exception as exc:
        err.print(f"[yellow]warehouse not readable ({exc}); the ClickHouse charts are empty[/]")
        wh = {}
    for path in render(derive(samples), wh, to):
        out.print(str(path))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
