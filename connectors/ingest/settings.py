"""Settings of the ingest API (env prefix ``STIR_INGEST_``; shared fields from ``CoreSettings``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from schemas.settings import CoreSettings


class IngestSettings(CoreSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_INGEST_", extra="ignore")

    host: str = Field("127.0.0.1", description="address the ingest API listens on")
    port: int = Field(18080, ge=0, le=65535, description="the ingest API's port")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest request body")
    max_event_bytes: int = Field(256 * 1024, ge=256, description="largest single event")
    max_batch_items: int = Field(10_000, ge=1, description="events per request at most")
    max_rows_per_message: int = Field(1000, ge=1, description="events per Kafka message at most")
    max_message_bytes: int = Field(900 * 1024, ge=1024, description="below the broker's message.max.bytes")
    queue_high_watermark: int = Field(50_000, ge=0, description="messages in the producer queue before 429")
    dlq_topic: str = Field("dlq.ingest", description="where refused events go (before the topic prefix)")
    delivery_timeout_s: float = Field(30.0, gt=0, description="how long a produce may take before 503")
    linger_ms: int = Field(5, ge=0, description="the producer's batching delay")
    token_max_concurrent: int = Field(16, ge=1, description="requests one token may have in flight at once (429 above)")
    max_future_skew_s: float = Field(900.0, ge=0, description="how far past now an event_time may lie (clock skew)")

    @property
    def tokens_file(self) -> Path:
        """The hashed bearer tokens (one file per topic prefix)."""
        return self.secrets_dir / f"{self.scoped('ingest-tokens', '.')}.json"
