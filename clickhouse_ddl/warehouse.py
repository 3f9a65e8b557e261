"""The embedded warehouse process (``stir warehouse run``): owns the chdb directory, applies the migrations
(embedded rendering), serves ClickHouse's HTTP interface on loopback and runs the bridge until SIGTERM."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from prometheus_client import start_http_server

from clickhouse_ddl.backends import ChdbBackend
from clickhouse_ddl.bridge import Bridge
from clickhouse_ddl.http_api import Access, ChdbExecutor, serve
from clickhouse_ddl.runner import all_sources, migrate
from clickhouse_ddl.settings import WarehouseSettings
from schemas.kafka import ensure_topics
from schemas.secrets import ensure_secret
from schemas.settings import CH_READER_USER
from schemas.topics import Topology

log = logging.getLogger("stir.warehouse")


def run(settings: WarehouseSettings, bootstrap: str) -> None:
    backend = ChdbBackend(settings.embedded_path, settings.ch_database)
    applied = migrate(backend, "embedded")
    log.info("migrations applied: %s", [m.path.name for m in applied] or "none pending")
    executor = ChdbExecutor(backend.session, backend.lock)
    executor.current_db = settings.ch_database
    users = {settings.ch_user: (settings.ch_password.get_secret_value() or ensure_secret(settings.ch_password_file),
                                True),
             CH_READER_USER: (ensure_secret(settings.ch_reader_password_file), False)}  # fmt: skip
    host, port = settings.ch_http_host, settings.ch_http_port
    server = serve(executor, Access(users, host, port), host, port)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="127.0.0.1")
    db = settings.ch_database
    ensure_topics(
        bootstrap,
        [settings.topic_prefix + s.topic for s in all_sources()],
        settings.partitions,
        configs=Topology(settings).configs(),
    )

    def insert(table: str, data: bytes) -> None:
        executor.insert(f"INSERT INTO {db}.{table}", "JSONEachRow", data, None)

    bridge = Bridge(bootstrap, settings.bridge_group, all_sources(), settings.topic_prefix, insert,
                    settings.bridge_max_messages, settings.bridge_poll_s)  # fmt: skip

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        bridge.stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("warehouse ready: http://%s:%d database=%s", settings.ch_http_host, settings.ch_http_port, db)
    try:
        bridge.run()
    finally:
        bridge.close()
        server.shutdown()
        backend.close()
