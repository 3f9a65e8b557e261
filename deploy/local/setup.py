"""Install what the local stack needs: Debian packages (PostgreSQL 15, Prometheus and Alertmanager, the compose
validator, Chromium for the report's page test) and Maven jars."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from deploy.local.jars import ensure_jars
from deploy.local.settings import StackSettings


def compose_command() -> list[str] | None:
    """The docker compose client here, if any: the v2 plugin or the standalone v1 `docker-compose`."""
    if shutil.which("docker"):
        res = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if res.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def missing_packages(settings: StackSettings) -> list[str]:
    missing = []
    if not (settings.pg_bin_dir / "postgres").exists():
        missing.append("postgresql-15")
    if compose_command() is None:
        missing.append("docker-compose")  # only to validate deploy/compose.yaml
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        missing.append("prometheus")  # promtool validates deploy/prometheus; a real Prometheus scrapes in a test
    if shutil.which("prometheus-alertmanager") is None:
        missing.append("prometheus-alertmanager")  # a test delivers an alert through it
    if shutil.which("chromium") is None:
        missing.append("chromium")  # tests render `stir report --html` in headless Chromium
    return missing


def apt_install(packages: list[str], on_event: Callable[[str], None]) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(f"missing packages {', '.join(packages)}: install them (apt-get install) and retry")
    on_event(f"installing {', '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def ensure_java() -> None:
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install openjdk-17-jdk-headless and maven")


def setup(settings: StackSettings, on_event: Callable[[str], None] = lambda _m: None) -> None:
    """Idempotent: installs only what is missing."""
    missing = missing_packages(settings)
    if missing:
        apt_install(missing, on_event)
    ensure_java()
    if ensure_jars(settings.jar_dir, settings.state_dir / "logs" / "mvn.log"):
        on_event(f"jars copied into {settings.jar_dir}")
    else:
        on_event(f"jars already in {settings.jar_dir}")
