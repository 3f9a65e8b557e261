"""Settings of the warehouse: where ClickHouse is, how its sources read Kafka, the embedded bridge."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class WarehouseSettings(BaseSettings):
    """``STIR_CH_URL`` set: a ClickHouse server (Kafka engine sources). Unset: the embedded warehouse (chdb in
    the ``stir warehouse run`` process, fed by the bridge, serving ClickHouse's HTTP interface on loopback)."""

    model_config = SettingsConfigDict(env_prefix="STIR_CH_", extra="ignore")

    url: str | None = Field(None, description="http(s)://host:8123 of a ClickHouse server; unset = embedded")
    user: str = "default"
    password: SecretStr = SecretStr("")
    database: str = Field("stir", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    embedded_path: Path = Field(REPO_ROOT / ".stir" / "chdb", description="chdb data directory")
    http_host: str = "127.0.0.1"
    http_port: int = Field(18123, ge=1024, le=65535, description="embedded warehouse's HTTP endpoint")
    metrics_port: int | None = Field(None, ge=1024, le=65535)

    kafka_bootstrap: str | None = Field(None, description="brokers the sources read (default: the local stack)")
    topic_prefix: str = ""
    kafka_group: str = Field("stir-warehouse", min_length=1)
    partitions: int = Field(4, ge=1)
    kafka_num_consumers: int = Field(1, ge=1)
    kafka_flush_interval_ms: int = Field(500, ge=10, le=1000)

    bridge_max_messages: int = Field(2000, ge=1, description="messages per bridge batch (one INSERT per table)")
    bridge_poll_s: float = Field(0.2, gt=0, le=5)

    @field_validator("embedded_path")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @model_validator(mode="after")
    def _consumers_within_partitions(self) -> WarehouseSettings:
        if self.kafka_num_consumers > self.partitions:
            raise ValueError(f"kafka_num_consumers ({self.kafka_num_consumers}) must be <= partitions "
                             f"({self.partitions})")  # fmt: skip
        return self

    @property
    def rendering(self) -> Literal["server", "embedded"]:
        return "server" if self.url else "embedded"

    @property
    def http_url(self) -> str:
        """Where clients reach ClickHouse's HTTP interface: the server, or the embedded warehouse."""
        return self.url or f"http://{self.http_host}:{self.http_port}"
