"""`stir dispatch`: deliver the refresh requests to the scraper's HTTP API."""

from __future__ import annotations

import logging

import typer
from prometheus_client import start_http_server

from connectors.dispatch.settings import DispatchSettings
from schemas.console import err, fail, load_settings
from schemas.kafka import ensure_topics
from schemas.topics import Topology

app = typer.Typer(help="Deliver scrape requests to the scraper's HTTP API.", no_args_is_help=True)


@app.command("run")
def run() -> None:
    """Consume social.scrape.request and POST each request (Idempotency-Key: its request id) until SIGTERM."""
    from connectors.dispatch.worker import Dispatcher

    cfg = load_settings(DispatchSettings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per POST
    try:
        dispatcher = Dispatcher(cfg)
    except ValueError as e:
        raise fail(str(e), 2) from None
    topo = Topology(cfg)
    names = [topo.name("social.scrape.request"), topo.name("dlq.dispatch")]
    try:
        ensure_topics(cfg.bootstrap, names, cfg.partitions, cfg.replication_factor, topo.configs())
    except Exception as e:
        raise fail(
            f"cannot reach Kafka at {cfg.bootstrap} ({e}): start it (`stir up`) or set STIR_KAFKA_BOOTSTRAP"
        ) from None
    if cfg.metrics_port:
        start_http_server(cfg.metrics_port, addr="127.0.0.1")
    err.print(f"dispatching {names[0]} -> {cfg.scraper_url} (at most {cfg.max_per_window} per {cfg.window_s:g} s)")
    dispatcher.run()
    err.print(f"stopped: {dispatcher.delivered} request(s) delivered")
