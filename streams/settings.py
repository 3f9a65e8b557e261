"""Settings of the stream processors (env prefix ``STIR_STREAMS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.local.settings import REPO_ROOT

DAY_MS = 86_400_000


class StreamsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_STREAMS_", extra="ignore")

    app_id: str = Field("stir-streams", pattern=r"^[a-zA-Z0-9_.-]+$", description="consumer group and table prefix")
    topic_prefix: str = Field("", pattern=r"^[a-zA-Z0-9_.-]*$", description="prepended to every topic name")
    cdc_prefix: str = Field("cdc", pattern=r"^[a-zA-Z0-9_.-]+$", description="Debezium topic prefix")
    partitions: int = Field(4, ge=1, description="partitions of every topic the agents read and write")
    allowed_lateness_ms: int = Field(2 * DAY_MS, ge=0, description="older events (per key) are dropped")
    refresh_interval_s: float = Field(60.0, gt=0, description="how often stale posts are looked for")
    refresh_max_per_interval: int = Field(250, ge=0, description="refresh requests per interval at most")
    hiring_ghost_after_days: float = Field(21.0, gt=0, description="a process with no activity this long is ghosted")
    login_fail_threshold: int = Field(5, ge=1, description="failed logins within the window that flag an account")
    login_fail_window_s: float = Field(600.0, gt=0, description="the failed-login window (event time)")
    login_quiet_s: float = Field(1800.0, ge=0, description="quiet time after a success that clears the flag")
    clock_ms: int | None = Field(None, description="pin the wall clock (tests); unset: real time")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port (0: none)")
    web_port: int = Field(16066, ge=1, le=65535, description="Faust's own web server port")
    data_dir: Path = Field(REPO_ROOT / ".stir" / "streams")
    commit_interval_s: float = Field(1.0, gt=0)
    session_timeout_s: float = Field(10.0, ge=6, description="how soon a dead worker's partitions move on")
    max_rows_per_message: int = Field(1000, ge=1)
    max_message_bytes: int = Field(512 * 1024, ge=1024, description="below the producer's max request size")
    take_max_messages: int = Field(2000, ge=1, description="messages an agent handles per broker round trip")
    take_within_s: float = Field(0.5, gt=0, description="how long an agent waits to fill a run of messages")
    log_level: str = Field("warning", pattern=r"^(debug|info|warning|error)$")

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def cdc_topic(self, table: str) -> str:
        return f"{self.topic_prefix}{self.cdc_prefix}.public.{table}"
