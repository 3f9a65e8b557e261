"""Settings of the serving loader (ClickHouse marts → PostgreSQL serving tables)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LoaderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_LOADER_", extra="ignore")

    pg_dsn: SecretStr | None = Field(None, description="serving database (default: the local stack's)")
    schema_name: str = Field("serving", pattern=r"^[a-z_][a-z0-9_]*$", description="schema of the serving tables")
    lock_timeout_ms: int = Field(2000, ge=10, le=60000, description="swap transaction's lock_timeout")
    swap_retries: int = Field(5, ge=0, le=100)
    interval_scale: float = Field(1.0, gt=0, description="multiplies every spec's refresh interval")
    only: list[str] = Field(default_factory=list, description="run only these specs (comma separated)")
    connect_url: str | None = Field(
        None,
        description="Kafka Connect REST URL probed for task state (default: the local stack's; empty string: no probe)",
    )
    metrics_port: int | None = Field(None, ge=1024, le=65535)
    block_rows: int = Field(65536, ge=1000, description="rows per block streamed out of ClickHouse")
