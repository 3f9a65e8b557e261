"""Settings of the warehouse: where ClickHouse is, how its Kafka engine reads the topics."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from clickhouse_ddl.render import KafkaSource, group_name
from schemas.settings import CoreSettings


class WarehouseSettings(CoreSettings):
    """``STIR_CH_URL`` set: a ClickHouse server. Unset: the embedded warehouse (chdb in the ``stir warehouse run``
    process, serving ClickHouse's HTTP interface on loopback). Both read the topics with the Kafka engine."""

    model_config = SettingsConfigDict(env_prefix="STIR_CH_", extra="ignore")

    metrics_port: int | None = Field(None, ge=1024, le=65535, description="Prometheus /metrics port")

    cluster: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_]*$",
        description="server: run the DDL ON CLUSTER with replicated engines (one shard of replicas)",
    )
    kafka_group: str = Field("", description="consumer group of the sources (default: stir-warehouse, scoped)")
    kafka_num_consumers: int = Field(1, ge=1, description="Kafka engine consumers per source")
    kafka_session_timeout_ms: int = Field(
        10000,
        ge=6000,
        le=300000,
        description="embedded: how long a killed warehouse's consumers hold their partitions (librdkafka: 45 s)",
    )
    kafka_flush_interval_ms: int = Field(
        100,
        ge=10,
        le=1000,
        description="Kafka engine flush interval (and poll timeout)",
    )

    @model_validator(mode="after")
    def _consumers_within_partitions(self) -> WarehouseSettings:
        if self.cluster and not self.ch_url:
            raise ValueError("cluster (STIR_CH_CLUSTER) needs a ClickHouse server: set STIR_CH_URL, or unset it")
        if not self.kafka_group:
            self.kafka_group = self.scoped("stir-warehouse")
        if self.kafka_num_consumers > self.partitions:
            raise ValueError(f"kafka_num_consumers ({self.kafka_num_consumers}) must be <= partitions "
                             f"({self.partitions})")  # fmt: skip
        return self

    def reading(self) -> list[tuple[str, list[str]]]:
        """(consumer group, the topics it reads) of the Kafka engine's consumers: one group per source table."""
        from clickhouse_ddl.runner import all_sources

        return [(group_name(self.kafka_group, s.table), [self.topic_prefix + s.topic]) for s in all_sources()]

    def kafka_source(self) -> KafkaSource:
        """What the Kafka engine's fronts read."""
        return KafkaSource(self.bootstrap, self.topic_prefix, self.kafka_group, self.kafka_num_consumers,
                           self.kafka_flush_interval_ms)  # fmt: skip

    @property
    def embedded_path(self) -> Path:
        """chdb's data directory (one per database: one process holds one)."""
        return self.state_dir / "chdb" / self.ch_database

    @property
    def rendering(self) -> Literal["server", "embedded"]:
        return "server" if self.ch_url else "embedded"
