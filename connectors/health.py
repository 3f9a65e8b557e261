"""Kafka Connect / Debezium task state as Prometheus gauges, read from Connect's REST API
(``GET /connectors?expand=status``). The serving loader runs this probe next to its replication-slot probe, so
the pipeline-health dashboard and the alerts see CDC health without a JMX exporter on Connect."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import Gauge

CONNECTOR_UP = Gauge("stir_connect_connector_up", "1 when the connector is RUNNING (Connect REST)", ["connector"])
TASKS_RUNNING = Gauge("stir_connect_tasks_running", "Tasks of the connector in state RUNNING", ["connector"])
TASKS_FAILED = Gauge("stir_connect_tasks_failed", "Tasks of the connector in state FAILED", ["connector"])
REACHABLE = Gauge("stir_connect_reachable", "1 when Connect's REST API answered the last probe")
_known: set[str] = set()


def task_states(expanded: dict[str, Any]) -> dict[str, tuple[bool, int, int]]:
    """connector -> (connector RUNNING, tasks RUNNING, tasks FAILED) from ``/connectors?expand=status``."""
    out = {}
    for name, info in expanded.items():
        status = info.get("status", {})
        tasks = [t.get("state") for t in status.get("tasks", [])]
        out[name] = (status.get("connector", {}).get("state") == "RUNNING", tasks.count("RUNNING"),
                     tasks.count("FAILED"))  # fmt: skip
    return out


def observe_connect(base_url: str, timeout_s: float = 2.0) -> None:
    try:
        r = httpx.get(f"{base_url.rstrip('/')}/connectors", params={"expand": "status"}, timeout=timeout_s)
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
