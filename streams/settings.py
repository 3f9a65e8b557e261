"""Settings of the stream processors (env prefix ``STIR_STREAMS_``; shared fields from ``CoreSettings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from schemas.settings import CoreSettings

DAY_MS = 86_400_000


class StreamsSettings(CoreSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_STREAMS_", extra="ignore")

    app_id: str = Field("", pattern=r"^[a-zA-Z0-9_.-]*$",
                        description="consumer group and table prefix (default: stir-streams, scoped)")  # fmt: skip
    allowed_lateness_ms: int = Field(
        90 * DAY_MS,
        ge=0,
        description="how much older than its key's newest event an "
        "event may be (the longest history window); older ones go to dlq.late",
    )
    follower_history_resolution_ms: int = Field(
        3_600_000,
        ge=1,
        description="a profile's follower history keeps its newest snapshot of each such span "
        "of event time over the last 90 days, one per day before (the growth metrics read it; a shorter span: "
        "more state per often-scraped profile); it must divide a day",
    )
    refresh_interval_s: float = Field(600.0, gt=0, description="how often the refresh scope is looked through")
    refresh_max_per_interval: int = Field(250, ge=0, description="refresh requests per interval at most (oldest "
                                          "publish time first)")  # fmt: skip
    hiring_ghost_after_days: float = Field(21.0, gt=0, description="a process with no activity this long is ghosted")
    login_fail_threshold: int = Field(5, ge=1, description="failed logins within the window that flag an account")
    login_fail_window_s: float = Field(600.0, gt=0, description="the failed-login window (event time)")
    login_quiet_s: float = Field(1800.0, ge=0, description="quiet time after a success that clears the flag")
    clock_ms: int | None = Field(None, description="pin the wall clock (tests); unset: real time")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port (0: none)")
    web_port: int = Field(16066, ge=1, le=65535, description="Faust's own web server port")
    commit_interval_s: float = Field(1.0, gt=0, description="how often consumed offsets are committed")
    session_timeout_s: float = Field(10.0, ge=6, description="how soon a dead worker's partitions move on")
    shutdown_grace_s: float = Field(5.0, gt=0, description="a worker exits at most this long after SIGTERM")
    max_rows_per_message: int = Field(1000, ge=1, description="rows per output message at most")
    max_message_bytes: int = Field(512 * 1024, ge=1024, description="below the producer's max request size")
    take_max_messages: int = Field(2000, ge=1, description="messages an agent takes per run (in slices by bytes)")
    run_max_bytes: int = Field(16 * 2**20, ge=1024, description="input bytes an agent decodes and holds at once")
    stream_buffer_messages: int = Field(32, ge=1, description="messages fetched ahead per agent at most")
    take_within_s: float = Field(0.1, gt=0, description="how long an agent waits to fill a run of messages")
    store: Literal["disk", "memory"] = Field(
        "disk",
        description="where the agents' state lives: disk (a checkpoint of the changelogs: a restart reads only "
        "what was written since) or memory (rebuilt from the whole changelogs at every start)",
    )
    state_cache_keys: int = Field(50_000, ge=100, description="decoded states kept in memory per table (disk store)")
    standby_replicas: int = Field(1, ge=0, le=3, description="other workers that keep a copy of each partition's state")
    restart_limit: int = Field(5, ge=0, description="restarts of a worker that exits with code 70 within the window")
    restart_window_s: float = Field(300.0, gt=0, description="the window of restart_limit (more: give up, exit 70)")
    log_level: str = Field("warning", pattern=r"^(debug|info|warning|error)$", description="worker log level")

    @field_validator("follower_history_resolution_ms")
    @classmethod
    def _divides_a_day(cls, value: int) -> int:
        if DAY_MS % value:
            raise ValueError(f"{value} ms does not divide a day ({DAY_MS} ms): hours would straddle the days")
        return value

    @model_validator(mode="after")
    def _scoped_names(self) -> StreamsSettings:
        if not self.app_id:
            self.app_id = self.scoped("stir-streams")
        return self

    @property
    def data_dir(self) -> Path:
        """Faust's table stores (one folder per app id)."""
        return self.state_dir / "streams"
