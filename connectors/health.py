"""CDC health as Prometheus gauges: Kafka Connect / Debezium task state, read from Connect's REST API
(``GET /connectors?expand=status``), and the replication slots' lag. The local runtime has the serving loader
run these probes (``CdcProbe``), so the pipeline-health dashboard and the alerts see CDC health without a JMX
exporter on Connect."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from prometheus_client import Gauge

from schemas.custody import SourcePosition

CONNECTOR_UP = Gauge("stir_connect_connector_up", "1 when the connector is RUNNING (Connect REST)", ["connector"])
TASKS_RUNNING = Gauge("stir_connect_tasks_running", "Tasks of the connector in state RUNNING", ["connector"])
TASKS_FAILED = Gauge("stir_connect_tasks_failed", "Tasks of the connector in state FAILED", ["connector"])
REACHABLE = Gauge("stir_connect_reachable", "1 when Connect's REST API answered the last probe")
SLOT_LAG = Gauge("stir_pg_replication_slot_lag_bytes", "WAL a replication slot has not confirmed (CDC backlog)",
                 ["slot"])  # fmt: skip
_known: set[str] = set()
log = logging.getLogger("stir.cdc")


def task_states(expanded: dict[str, Any]) -> dict[str, tuple[bool, int, int]]:
    """connector -> (connector RUNNING, tasks RUNNING, tasks FAILED) from ``/connectors?expand=status``."""
    out = {}
    for name, info in expanded.items():
        status = info.get("status", {})
        tasks = [t.get("state") for t in status.get("tasks", [])]
        out[name] = (status.get("connector", {}).get("state") == "RUNNING", tasks.count("RUNNING"),
                     tasks.count("FAILED"))  # fmt: skip
    return out


def observe_connect(base_url: str, auth: tuple[str, str] | None = None, timeout_s: float = 2.0) -> None:
    try:
        r = httpx.get(f"{base_url.rstrip('/')}/connectors", params={"expand": "status"}, timeout=timeout_s,
                      auth=auth)  # fmt: skip
        r.raise_for_status()
    except httpx.HTTPError:
        REACHABLE.set(0)
        return
    REACHABLE.set(1)
    states = task_states(r.json())
    for gone in _known - set(states):  # deleted connectors leave the gauges
        for gauge in (CONNECTOR_UP, TASKS_RUNNING, TASKS_FAILED):
            gauge.remove(gone)
    _known.clear()
    _known.update(states)
    for name, (up, running, failed) in states.items():
        CONNECTOR_UP.labels(name).set(1 if up else 0)
        TASKS_RUNNING.labels(name).set(running)
        TASKS_FAILED.labels(name).set(failed)


def observe_slots(conn: psycopg.Connection[Any]) -> None:
    """Replication slot lag of the database the loader writes to (locally the OLTP database too)."""
    rows = conn.execute("SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) "
                        "FROM pg_replication_slots WHERE confirmed_flush_lsn IS NOT NULL").fetchall()  # fmt: skip
    for slot, lag in rows:
        SLOT_LAG.labels(slot).set(float(lag))


class CdcProbe:
    """Both probes, at most every ``every_s`` seconds: call it from any loop."""

    def __init__(self, connect_url: str | None, dsn: Callable[[], str], every_s: float = 5.0,
                 auth: Callable[[], tuple[str, str] | None] = lambda: None) -> None:  # fmt: skip
        self.connect_url, self.dsn, self.every_s, self.auth = connect_url, dsn, every_s, auth
        self._next = 0.0
        self._conn: psycopg.Connection[Any] | None = None

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn(), autocommit=True, connect_timeout=5)
            observe_slots(self._conn)
        except (psycopg.Error, OSError) as exc:
            log.debug("slot lag not readable: %s", exc)
            self._conn = None
        if self.connect_url:
            observe_connect(self.connect_url, self.auth())


class DebeziumPosition:
    """The source position the CDC connector has committed to Kafka Connect (every record up to it is in Kafka),
    for ``schemas.custody``: the commit LSN of the transaction it is in (every transaction committed before it has
    been sent whole) and that transaction's commit time. None while it is not readable."""

    def __init__(self, connect_url: str, connector: str, auth: Callable[[], tuple[str, str] | None]) -> None:
        self.connect_url, self.connector, self.auth = connect_url, connector, auth
        self._warned = 0.0

    def _warn(self, text: str, *args: Any) -> None:
        if time.monotonic() - self._warned > 60:  # at most once a minute: it is asked every quarter second
            self._warned = time.monotonic()
            log.warning(text, *args)

    def __call__(self) -> SourcePosition | None:
        from connectors.connect_client import ConnectClient

        try:
            with ConnectClient(self.connect_url, self.auth(), timeout_s=5.0) as client:  # the password may rotate
                offsets = client.offsets(self.connector)
        except (httpx.HTTPError, RuntimeError) as exc:
            self._warn("CDC source position not readable: %s", exc)
            return None
        got = source_position(offsets)
        if got is None:
            self._warn("the CDC connector has committed no source position yet (offsets %s)", offsets)
        return got


def source_position(offsets: list[dict[str, Any]]) -> SourcePosition | None:
    """Debezium's PostgreSQL offset (``lsn_commit``, ``ts_usec``) as a ``SourcePosition``; None during a snapshot
    (its offset names where streaming will start, not what is in Kafka) or before a first commit was streamed."""
    for entry in offsets:
        offset = entry.get("offset") or {}
        if offset.get("snapshot") or offset.get("last_snapshot_record") is False:
            return None
        lsn = offset.get("lsn_commit")
        ts = offset.get("ts_usec")
        if isinstance(lsn, int) and isinstance(ts, int) and lsn > 0 and ts > 0:
            return SourcePosition(lsn, datetime.fromtimestamp(ts / 1e6, UTC))
    return None
