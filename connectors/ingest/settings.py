"""Settings of the ingest API (env prefix ``STIR_INGEST_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.local.settings import REPO_ROOT


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_INGEST_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(18080, ge=0, le=65535)
    tokens_file: Path = Field(REPO_ROOT / ".stir" / "secrets" / "ingest-tokens.json")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_event_bytes: int = Field(256 * 1024, ge=256)
    max_batch_items: int = Field(10_000, ge=1)
    max_rows_per_message: int = Field(1000, ge=1)
    max_message_bytes: int = Field(900 * 1024, ge=1024, description="below the broker's message.max.bytes")
    queue_high_watermark: int = Field(50_000, ge=0, description="messages in the producer queue before 429")
    partitions: int = Field(4, ge=1, description="partitions of topics the API creates")
    dlq_topic: str = "dlq.ingest"
    topic_prefix: str = Field("", pattern=r"^[a-zA-Z0-9_.-]*$", description="prepended to every topic written")
    delivery_timeout_s: float = Field(30.0, gt=0)
    linger_ms: int = Field(5, ge=0)
