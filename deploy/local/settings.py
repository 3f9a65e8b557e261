"""Settings of the local runtime: ports, paths and (optionally) external endpoints.

Every value can be set through the environment with the ``STIR_`` prefix, e.g.
``STIR_PG_PORT=25432`` or ``STIR_KAFKA_BOOTSTRAP=broker:9092`` (which points the project at an
external broker instead of starting one).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stir-stream"


class StackSettings(BaseSettings):
    """Where the local services live and listen, and how clients reach them."""

    model_config = SettingsConfigDict(env_prefix="STIR_", extra="ignore")

    state_dir: Path = Field(REPO_ROOT / ".stir", description="data, logs, pid files and secrets")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="downloaded jars")
    bind_host: str = Field("127.0.0.1", description="address every local service binds to")

    pg_port: int = Field(15432, ge=1024, le=65535)
    pg_bin_dir: Path = Field(Path("/usr/lib/postgresql/15/bin"))
    pg_os_user: str = Field("postgres", description="non-root OS user that runs postgres when started as root")
    pg_superuser: str = Field("stir")
    pg_database: str = Field("stir")

    kafka_port: int = Field(19092, ge=1024, le=65535)
    kafka_controller_port: int = Field(19093, ge=1024, le=65535)
    kafka_heap: str = Field("768m", pattern=r"^\d+[mg]$")
    connect_port: int = Field(18083, ge=1024, le=65535)
    connect_heap: str = Field("768m", pattern=r"^\d+[mg]$")

    ready_timeout_s: float = Field(120.0, gt=0)

    # External endpoints: when set, `stir up` does not start that service and clients use these.
    kafka_bootstrap: str | None = None
    connect_url: str | None = None
    pg_dsn: SecretStr | None = None

    @field_validator("state_dir", "cache_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    # --- derived paths -------------------------------------------------------------------------
    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def pg_password_file(self) -> Path:
        return self.secrets_dir / "pg.password"

    @property
    def connect_secrets_file(self) -> Path:
        """Read by Kafka Connect's FileConfigProvider: ``${file:<path>:pg.password}``."""
        return self.secrets_dir / "connect-secrets.properties"

    @property
    def jar_dir(self) -> Path:
        return self.cache_dir / "jars"

    # --- effective endpoints -------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"{self.bind_host}:{self.kafka_port}"

    @property
    def connect_rest(self) -> str:
        return (self.connect_url or f"http://{self.bind_host}:{self.connect_port}").rstrip("/")

    def pg_password(self) -> str:
        if not self.pg_password_file.exists():
            raise FileNotFoundError(
                f"no PostgreSQL password at {self.pg_password_file}: run `stir up` first or set STIR_PG_DSN"
            )
        return self.pg_password_file.read_text().strip()

    def dsn(self, dbname: str | None = None) -> str:
        """A libpq connection string for the OLTP database (or ``dbname``)."""
        if self.pg_dsn is not None:
            return self.pg_dsn.get_secret_value()
        return (
            f"host={self.bind_host} port={self.pg_port} user={self.pg_superuser} "
            f"password={self.pg_password()} dbname={dbname or self.pg_database}"
        )

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
    """The OS user to drop to for postgres, or None to run as the current (non-root) user."""
    if os.geteuid() != 0:
        return None
    if settings.pg_os_user == "root":
        raise ValueError("STIR_PG_OS_USER: PostgreSQL refuses to run as root; name a non-root user")
    return settings.pg_os_user


def current_user() -> str:
    return getpass.getuser()
