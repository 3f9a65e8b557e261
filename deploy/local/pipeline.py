"""The pipeline's own processes, started and stopped PID-safely beside the stack: the embedded warehouse
(chdb, its Kafka engine, the HTTP endpoint), the Faust worker, the ingest API and the serving loader.

Every process is configured only through its environment (``STIR_*``), so a test can run a whole pipeline
in its own namespace (topic prefix, consumer groups, ClickHouse database, serving schema, ports) beside the
default one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic_settings import BaseSettings

from clickhouse_ddl.settings import WarehouseSettings
from connectors.ingest.settings import IngestSettings
from deploy.local.process import ManagedProcess, wait_until
from streams import membership
from streams.settings import StreamsSettings

S = TypeVar("S", bound=BaseSettings)

COMPONENTS = ("warehouse", "worker", "ingest", "loader")
ARGV = {
    "warehouse": ["warehouse", "run"],
    "worker": ["streams", "worker"],
    "ingest": ["ingest", "serve"],
    "loader": ["load", "run"],
}


# the Prometheus ports deploy/prometheus/prometheus.yml scrapes (the ingest API serves /metrics on its own port)
METRICS_PORTS = {
    "STIR_STREAMS_METRICS_PORT": "19101",
    "STIR_CH_METRICS_PORT": "19102",
    "STIR_LOADER_METRICS_PORT": "19103",
}


class PipelineError(RuntimeError):
    pass


@dataclass
class Pipeline:
    run_dir: Path  # pid files and logs
    env: dict[str, str] = field(default_factory=dict)  # STIR_* overrides on top of os.environ

    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(name, self.run_dir / f"{name}.pid", self.run_dir / f"{name}.log")

    def environment(self) -> dict[str, str]:
        """The environment the pipeline's processes run with: the default metrics ports unless set."""
        return {**METRICS_PORTS, **os.environ, **self.env}

    def settings(self, cls: type[S]) -> S:
        """A component's settings as the pipeline's processes see them (their environment, not this one's)."""
        env, prefix = self.environment(), str(cls.model_config.get("env_prefix", ""))
        values: dict[str, Any] = {}
        for name, f in cls.model_fields.items():
            var = f.validation_alias if isinstance(f.validation_alias, str) else prefix + name.upper()
            if var in env and f.annotation is not list[str]:
                values[name] = env[var]
        return cls(**values)

    @property
    def warehouse_url(self) -> str:
        return self.settings(WarehouseSettings).ch_http_url

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.settings(IngestSettings).port}"

    def start(self, name: str, timeout_s: float = 120) -> None:
        proc = self.process(name)
        rec = proc.start([sys.executable, "-m", "deploy.cli", *ARGV[name]], env=self.environment())
        ready = self._readiness(name, rec.pid)

        def ready_or_dead() -> bool:
            if not rec.alive():
                return True
            try:
                return ready()
            except Exception:
                return False

        if not wait_until(ready_or_dead, timeout_s, 0.2) or not rec.alive():
            tail = proc.log_file.read_text(errors="replace")[-3000:] if proc.log_file.exists() else ""
            proc.stop()
            raise PipelineError(f"{name} did not become ready; log {proc.log_file}:\n{tail}")

    def _readiness(self, name: str, pid: int) -> Callable[[], bool]:
        if name == "warehouse":  # the answer must come from the process just started, not a squatter on the port
            return lambda: httpx.get(f"{self.warehouse_url}/ping", timeout=1).headers.get("X-Stir-Pid") == str(pid)
        if name == "ingest":
            return lambda: httpx.get(f"{self.ingest_url}/healthz", timeout=1).status_code == 200
        if name == "worker":
            return self.worker_joined
        return lambda: self.process(name).running() is not None

    def worker_joined(self) -> bool:
        """This worker process has joined its group and holds an assignment."""
        settings = self.settings(StreamsSettings)
        rec = self.process("worker").running()
        data_dir = settings.data_dir / settings.app_id
        return rec is not None and membership.joined(settings.bootstrap, settings.app_id, data_dir, rec.pid)

    def up(self, components: tuple[str, ...] = COMPONENTS, on_event: Callable[[str], None] = lambda _m: None) -> None:
        for name in components:
            on_event(f"starting {name}")
            self.start(name)
            on_event(f"{name} ready")

    def down(self, components: tuple[str, ...] = COMPONENTS) -> list[str]:
        stopped = []
        for name in reversed(components):
            if self.process(name).stop():
                stopped.append(name)
        return stopped

    def kill(self, name: str) -> None:
        self.process(name).kill()
