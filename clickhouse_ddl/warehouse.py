"""The embedded warehouse process (``stir warehouse run``): owns the chdb directory, applies the migrations
behind the Kafka engine's fronts (clickhouse_ddl/kafka_front.py), serves ClickHouse's HTTP interface on loopback,
and reads the topics with chdb's own Kafka engine until SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from prometheus_client import REGISTRY, start_http_server

from clickhouse_ddl.backends import ChdbBackend
from clickhouse_ddl.engine_metrics import KafkaEngineCollector
from clickhouse_ddl.http_api import Access, ChdbExecutor, serve
from clickhouse_ddl.kafka_front import detach, migrate_behind_fronts
from clickhouse_ddl.runner import all_sources
from clickhouse_ddl.settings import WarehouseSettings
from schemas.kafka import ensure_topics
from schemas.migrations import Migration
from schemas.secrets import ensure_secret
from schemas.settings import CH_READER_USER
from schemas.topics import Topology

log = logging.getLogger("stir.warehouse")


def prepare(backend: ChdbBackend, settings: WarehouseSettings) -> list[Migration]:
    """Apply the pending migrations behind the Kafka engine's fronts (made again after them from the current
    contract and settings)."""
    return migrate_behind_fronts(backend, "embedded", settings.kafka_source())


def run(settings: WarehouseSettings, bootstrap: str) -> None:
    # a thread for each Kafka engine consumer, and two for the rest of chdb's message broker tasks
    threads = len(all_sources()) * settings.kafka_num_consumers + 2
    backend = ChdbBackend(settings.embedded_path, settings.ch_database, broker_threads=threads,
                          kafka_session_timeout_ms=settings.kafka_session_timeout_ms)  # fmt: skip
    topics = [settings.topic_prefix + s.topic for s in all_sources()]
    # the Kafka engine's consumers subscribe when their table is created: the topics exist first
    ensure_topics(bootstrap, topics, settings.partitions, configs=Topology(settings).configs())
    done = prepare(backend, settings)
    log.info("migrations applied: %s", [m.path.name for m in done] or "none pending")
    executor = ChdbExecutor(backend.session, backend.lock)
    executor.current_db = settings.ch_database
    users = {settings.ch_user: (settings.ch_password.get_secret_value() or ensure_secret(settings.ch_password_file),
                                True),
             CH_READER_USER: (ensure_secret(settings.ch_reader_password_file), False)}  # fmt: skip
    host, port = settings.ch_http_host, settings.ch_http_port
    server = serve(executor, Access(users, host, port), host, port)
    REGISTRY.register(KafkaEngineCollector(backend.rows, settings.ch_database, bootstrap))
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr="127.0.0.1")
    stopped = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("warehouse ready: http://%s:%d database=%s", settings.ch_http_host, settings.ch_http_port,
             settings.ch_database)  # fmt: skip
    try:
        while not stopped.wait(1.0):
            pass
    finally:
        try:
            detach(backend, all_sources())  # what was read is committed; the next start makes the fronts again
        except Exception as exc:  # the next start drops them anyway: still stop the endpoint and the session
            log.warning("could not drop the Kafka engine's fronts on the way out: %s", exc)
        server.shutdown()
        backend.close()
