"""Bring the local stack up and down, and report its state."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from deploy.local.jars import ensure_jars
from deploy.local.services import Connect, Kafka, Postgres, Service, all_services
from deploy.local.settings import StackSettings


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int
    healthy: bool
    external: bool


class StackError(RuntimeError):
    pass


def _wait(svc: Service, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if svc.proc.running() is None:
            raise StackError(f"{svc.name} exited during start-up; see {svc.proc.log_file}")
        if svc.healthy():
            return
        if time.monotonic() > deadline:
            raise StackError(f"{svc.name} not ready after {timeout_s:.0f}s; see {svc.proc.log_file}")
        time.sleep(0.2)


def up(settings: StackSettings, on_event: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Start every managed service that is not already running and wait until all are ready.

    Idempotent. Returns the names of the services this call started.
    """
    managed = set(settings.managed())
    if {"kafka", "connect"} & managed and ensure_jars(settings.jar_dir, settings.state_dir / "logs" / "mvn.log"):
        on_event("jars copied from Maven Central")
    started: list[str] = []
    pg, kafka, connect = Postgres(settings), Kafka(settings), Connect(settings)
    # PostgreSQL and Kafka start side by side; Connect needs the broker.
    for svc in (pg, kafka):
        if svc.name in managed and svc.proc.running() is None:
            rec = svc.start()
            started.append(svc.name)
            on_event(f"{svc.name} started (pid {rec.pid})")
    for svc in (pg, kafka):
        if svc.name in managed:
            _wait(svc, settings.ready_timeout_s)
            on_event(f"{svc.name} ready on port {svc.port}")
    if "postgres" in managed:
        pg.ensure_database()
    if "connect" in managed:
        if connect.proc.running() is None:
            rec = connect.start()
            started.append(connect.name)
            on_event(f"connect started (pid {rec.pid})")
        _wait(connect, settings.ready_timeout_s)
        on_event(f"connect ready on port {connect.port}")
    return started


def down(settings: StackSettings, only: list[str] | None = None) -> list[str]:
    """Stop what `up` started (by pid file), Connect first. Returns the names stopped."""
    stopped = []
    for svc in reversed(all_services(settings)):
        if only is not None and svc.name not in only:
            continue
        if svc.stop():
            stopped.append(svc.name)
    return stopped


def status(settings: StackSettings) -> list[ServiceStatus]:
    managed = set(settings.managed())
    out = []
    for svc in all_services(settings):
        rec = svc.proc.running()
        external = svc.name not in managed
        healthy = svc.healthy() if (rec is not None or external) else False
        out.append(ServiceStatus(svc.name, rec.pid if rec else None, svc.port, healthy, external))
    return out
