"""Bring the local stack up and down, and report its state."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from deploy.local.jars import ensure_jars
from deploy.local.ports import port_error
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


def _log_cause(svc: Service, lines: int = 400) -> str:
    """The last error line of the service's log (what a user would search the log for)."""
    try:
        tail = svc.proc.log_file.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    for markers in (("Address already in use", "FATAL", "ERROR"), ("Exception", "Error:")):  # the log's own first
        found = [line.strip() for line in tail if any(m in line for m in markers)]
        if found:
            return f": {found[-1][:300]}"
    return ""


def _wait(svc: Service, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if svc.proc.running() is None:
            raise StackError(f"{svc.name} exited during start-up{_log_cause(svc)} (log: {svc.proc.log_file})")
        if svc.healthy():
            return
        if time.monotonic() > deadline:
            raise StackError(f"{svc.name} not ready after {timeout_s:.0f}s{_log_cause(svc)} (log: {svc.proc.log_file})")
        time.sleep(0.2)


def _start(svc: Service, settings: StackSettings, started: list[Service], on_event: Callable[[str], None]) -> None:
    """Start ``svc`` unless it runs: its ports are checked first, so a taken one is named with its holder."""
    if svc.proc.running() is not None:
        return
    for port, setting in svc.ports():
        problem = port_error(svc.name, settings.bind_host, port, setting)
        if problem is not None:
            raise StackError(problem)
    rec = svc.start()
    started.append(svc)
    on_event(f"{svc.name} started (pid {rec.pid})")


def up(settings: StackSettings, on_event: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Start every managed service that is not already running and wait until all are ready.

    Idempotent. Returns the names of the services this call started. On a failure, what this call started is
    stopped again before the error is raised (what was running before stays).
    """
    managed = set(settings.managed())
    if {"kafka", "connect"} & managed and ensure_jars(settings.jar_dir, settings.state_dir / "logs" / "mvn.log"):
        on_event("jars copied from Maven Central")
    started: list[Service] = []
    pg, kafka, connect = Postgres(settings), Kafka(settings), Connect(settings)
    first: tuple[Service, Service] = (pg, kafka)
    try:
        # PostgreSQL and Kafka start side by side; Connect needs the broker.
        for svc in first:
            if svc.name in managed:
                _start(svc, settings, started, on_event)
        for svc in first:
            if svc.name in managed:
                _wait(svc, settings.ready_timeout_s)
                on_event(f"{svc.name} ready on port {svc.port}")
        if "postgres" in managed:
            pg.ensure_database()
        if "connect" in managed:
            _start(connect, settings, started, on_event)
            _wait(connect, settings.ready_timeout_s)
            on_event(f"connect ready on port {connect.port}")
    except BaseException as e:
        for begun in reversed(started):
            try:
                begun.stop()
            except Exception:  # stop the others all the same; the error that matters is the start's
                logging.getLogger("stir.stack").exception("could not stop %s after a failed start", begun.name)
        if started and isinstance(e, Exception):
            names = ", ".join(s.name for s in started)
            raise StackError(f"{e} (stopped what this start had started: {names})") from e
        raise
    return [svc.name for svc in started]


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
