"""`stir load`: the serving loader (ClickHouse marts → PostgreSQL serving tables)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import psycopg
import typer
from prometheus_client import start_http_server
from rich.table import Table

from schemas.clickhouse import connect
from schemas.console import fail, load_settings, out
from schemas.custody import Custody
from serving_loader.reconcile import Reconciler
from serving_loader.scheduler import Loader
from serving_loader.settings import LoaderSettings
from serving_loader.specs import by_name
from serving_loader.status import spec_status

app = typer.Typer(help="The serving loader (ClickHouse marts → PostgreSQL serving tables).", no_args_is_help=True)

# Probes the loader's loop runs beside its specs, built from its settings. The composition root (deploy/cli.py)
# adds the CDC health probe, so the serving loader needs no other stage.
PROBES: list[Callable[[LoaderSettings], Callable[[], None]]] = []
# What follows the source position through the pipeline's consumer groups (schemas/custody.py), built by the
# composition root, which knows the other stages' groups and the CDC connector.
CUSTODY: list[Callable[[LoaderSettings], Custody]] = []


def _loader() -> Loader:
    ls = load_settings(LoaderSettings)
    try:
        connect(ls).close()
    except Exception as exc:
        hint = "" if ls.ch_url else " (is `stir warehouse run` running?)"
        raise fail(f"cannot reach ClickHouse at {ls.ch_http_url}{hint}: {exc}") from None
    try:
        dsn = ls.serving()
        probes: list[Callable[[], None]] = [make(ls) for make in PROBES] if ls.probe_connect else []
        if ls.reconcile_every_s:
            probes.append(Reconciler(ls.audit, dsn, ls.schema_name, ls.reconcile_every_s))
        custody = CUSTODY[0](ls) if CUSTODY and ls.track_source else None
        return Loader(ls, dsn, lambda: connect(ls), probes=probes, custody=custody)
    except (OSError, psycopg.Error) as exc:
        raise fail(f"cannot reach the serving database: {exc}") from None


@app.command("run")
def run() -> None:
    """Refresh every serving table at its spec's interval until SIGTERM/Ctrl-C."""
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
    loader.run(stop)


def _once(spec: str, rebuild: bool) -> None:
    specs = by_name()
    if spec not in specs:
        raise fail(f"unknown spec {spec!r}; known: {', '.join(specs)}", 2)
    loader = _loader()
    try:
        r = loader.once(specs[spec], rebuild=rebuild)
    except Exception as exc:
        raise fail(f"{spec}: {exc}") from None
    changed = f", {r.deleted} deleted" if r.mode == "incremental" else ""
    out.print(f"{spec}: {r.outcome} ({r.mode}), {r.rows} rows{changed} (live before: {r.live_rows_before}); "
              + ", ".join(f"{k} {v:.3f}s" for k, v in r.phases.items()))  # fmt: skip
    if r.outcome == "refused":
        raise typer.Exit(1)


@app.command("once")
def once(spec: str = typer.Argument(..., help="spec name (see `stir load status`)")) -> None:
    """Refresh one spec now: incrementally where it can, else a snapshot and swap (or refuse it)."""
    _once(spec, rebuild=False)


@app.command("rebuild")
def rebuild(spec: str = typer.Argument(..., help="spec name (see `stir load status`)")) -> None:
    """Rebuild one serving table whole from the warehouse (a snapshot and swap): the repair path of an
    incrementally refreshed table (drift, a row changed by hand). A running loader goes on from the rebuilt table."""
    _once(spec, rebuild=True)


@app.command("reconcile")
def reconcile(timeout_s: float = typer.Option(120.0, help="how long to wait for the tables to catch up")) -> None:
    """Compare the reconciled serving tables with their OLTP source: counts, a checksum of the keys, the keys
    missing or extra (two passes, the second once each table reflects the first). Exit 1 on drift."""
    ls = load_settings(LoaderSettings)
    try:
        got = Reconciler(ls.audit, ls.serving(), ls.schema_name, 0).run_once(timeout_s)
    except TimeoutError as exc:
        raise fail(str(exc)) from None
    except (OSError, psycopg.Error) as exc:
        raise fail(f"cannot read the OLTP or the serving database: {exc}") from None
    table = Table("spec", "OLTP rows", "serving rows", "OLTP keys", "serving keys", "drift")
    for r in got.values():
        table.add_row(r.spec, str(r.oltp_rows), str(r.serving_rows), r.oltp_checksum, r.serving_checksum,
                      r.describe())  # fmt: skip
    out.print(table)
    drifted = [r for r in got.values() if r.drift]
    if drifted:
        raise fail("drift: " + "; ".join(f"{r.spec}: {r.describe()}" for r in drifted)
                   + " — `stir load rebuild SPEC` rebuilds a table from the warehouse", 1)  # fmt: skip


@app.command("status")
def status() -> None:
    """Per spec: interval, live rows, last run and its outcome, and the source position the table reflects."""
    ls = load_settings(LoaderSettings)
    try:
        with psycopg.connect(ls.serving(), autocommit=True) as conn:
            rows = spec_status(conn, ls.schema_name)
    except (OSError, psycopg.Error) as exc:
        raise fail(f"cannot reach the serving database: {exc}") from None
    table = Table("spec", "interval", "live rows", "last run", "outcome", "rows", "swap s", "lock wait s",
                  "deferrals", "swap waiting now", "reflects")  # fmt: skip

    def num(v: float | int | None, fmt: str = "{}") -> str:
        return "-" if v is None else fmt.format(v)

    for r in rows:
        outcome = f"{r.outcome} ({r.mode})" if r.outcome and r.mode else r.outcome or "-"
        table.add_row(r.spec, f"{r.interval_s:g}s", num(r.live_rows), str(r.finished_at or "-"), outcome,
                      num(r.rows), num(r.swap_s, "{:.3f}"), num(r.lock_wait_s, "{:.3f}"), num(r.deferrals),
                      r.pending or "-", r.reflects or "-")  # fmt: skip
    out.print(table)
