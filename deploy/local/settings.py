"""Settings of the local runtime: ports, paths and (optionally) external endpoints.

Every value can be set through the environment with the ``STIR_`` prefix, e.g.
``STIR_PG_PORT=25432`` or ``STIR_KAFKA_BOOTSTRAP=broker:9092`` (which points the project at an
external broker instead of starting one). Endpoints and the state dir are the shared ``CoreSettings``.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from schemas.settings import CoreSettings


def _default_cache_dir() -> Path:
    """Root's cache is /var/cache (the jars must be readable by the unprivileged user that runs Kafka)."""
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "stir-stream"
    if os.geteuid() == 0:
        return Path("/var/cache/stir-stream")
    return Path.home() / ".cache" / "stir-stream"


class StackSettings(CoreSettings):
    """How the local runtime installs and runs the services (endpoints and the state dir: ``CoreSettings``)."""

    model_config = SettingsConfigDict(env_prefix="STIR_", extra="ignore")

    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="downloaded jars",
        json_schema_extra={"shown_default": "`~/.cache/stir-stream` (root: `/var/cache/stir-stream`)"},
    )
    pg_bin_dir: Path = Field(Path("/usr/lib/postgresql/15/bin"), description="PostgreSQL 15 binaries")
    service_os_user: str = Field(
        "postgres", description="non-root OS user that runs PostgreSQL, Kafka and Connect when started as root"
    )
    kafka_controller_port: int = Field(19093, ge=1024, le=65535, description="local broker's KRaft controller port")
    kafka_heap: str = Field("768m", pattern=r"^\d+[mg]$", description="local broker's JVM heap")
    connect_heap: str = Field("768m", pattern=r"^\d+[mg]$", description="local Connect's JVM heap")
    alert_webhook_url: str = Field(
        "", pattern=r"^(https?://\S+)?$", description="where Alertmanager sends the alerts (`stir alerts config`)"
    )
    ready_timeout_s: float = Field(120.0, gt=0, description="how long `stir up` waits for each service")

    @field_validator("cache_dir")
    @classmethod
    def _absolute_cache(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def jar_dir(self) -> Path:
        return self.cache_dir / "jars"

    def managed(self) -> list[str]:
        """The services `stir up` starts here (those without an external endpoint)."""
        out = []
        if self.pg_dsn is None:
            out.append("postgres")
        if self.kafka_bootstrap is None:
            out.append("kafka")
        if self.connect_url is None:
            out.append("connect")
        return out


def run_as_user(settings: StackSettings) -> str | None:
    """The OS user the services drop to, or None to run them as the current (non-root) user."""
    if os.geteuid() != 0:
        return None
    if settings.service_os_user == "root":
        raise ValueError("STIR_SERVICE_OS_USER: the services never run as root; name a non-root user")
    return settings.service_os_user


def current_user() -> str:
    return getpass.getuser()
