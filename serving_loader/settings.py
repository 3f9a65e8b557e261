"""Settings of the serving loader (env prefix ``STIR_LOADER_``; shared fields from ``CoreSettings``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from schemas.roles import LOADER
from schemas.settings import CoreSettings


class LoaderSettings(CoreSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_LOADER_", extra="ignore")

    serving_dsn: SecretStr | None = Field(None, description="serving database (default: the OLTP database)")
    schema_name: str = Field("", pattern=r"^([a-z_][a-z0-9_]*)?$",
                             description="schema of the serving tables (default: serving, scoped)")  # fmt: skip
    lock_timeout_ms: int = Field(2000, ge=10, le=60000, description="swap transaction's lock_timeout")
    swap_retries: int = Field(5, ge=0, le=100, description="swap attempts after a lock timeout")
    interval_scale: float = Field(1.0, gt=0, description="multiplies every spec's refresh interval")
    only: list[str] = Field(default_factory=list, description="run only these specs (JSON list)")
    probe_connect: bool = Field(True, description="export Kafka Connect task state and slot lag as metrics")
    metrics_port: int | None = Field(None, ge=1024, le=65535, description="Prometheus /metrics port")
    block_rows: int = Field(65536, ge=1000, description="rows per block streamed out of ClickHouse")

    @model_validator(mode="after")
    def _scoped_names(self) -> LoaderSettings:
        if not self.schema_name:
            self.schema_name = self.scoped("serving", "_")
        return self

    def serving(self) -> str:
        """The serving database's connection string (the local server: as the loader's own role)."""
        return self.serving_dsn.get_secret_value() if self.serving_dsn else self.dsn(role=LOADER)
