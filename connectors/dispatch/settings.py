"""Settings of the scrape dispatcher (env prefix ``STIR_DISPATCH_``; shared fields from ``CoreSettings``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from schemas.settings import NAME, CoreSettings


class DispatchSettings(CoreSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_DISPATCH_", extra="ignore")

    scraper_url: str = Field("", description="the scraper API's endpoint that takes scrape requests (http or https)")
    token_file: Path | None = Field(None, description="file holding the scraper API's bearer token")
    token: SecretStr = Field(SecretStr(""), description="the scraper API's bearer token (prefer token_file)")
    max_per_window: int = Field(250, ge=1, description="scrape requests sent per window at most (retries count)")
    window_s: float = Field(600.0, gt=0, description="the window of max_per_window, in seconds")
    timeout_s: float = Field(10.0, gt=0, description="how long one POST may take")
    backoff_initial_s: float = Field(0.5, gt=0, description="the first retry's delay (doubles up to backoff_max_s)")
    backoff_max_s: float = Field(60.0, gt=0, description="the longest delay between two retries")
    group_id: str = Field("", pattern=NAME, description="consumer group (default: stir-dispatch, scoped)")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port (0: none)")

    @field_validator("scraper_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, e.g. https://scraper.internal/v1/scrape-requests")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: put the token in STIR_DISPATCH_TOKEN_FILE")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> DispatchSettings:
        if not self.group_id:
            self.group_id = self.scoped("stir-dispatch")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("STIR_DISPATCH_BACKOFF_MAX_S must be at least STIR_DISPATCH_BACKOFF_INITIAL_S")
        return self

    def bearer(self) -> str:
        """The scraper API's token: ``token_file``'s content, else ``token``."""
        if self.token_file is not None:
            try:
                text = self.token_file.read_text().strip()
            except OSError as e:
                raise ValueError(f"STIR_DISPATCH_TOKEN_FILE: cannot read {self.token_file} ({e.strerror})") from None
            if not text:
                raise ValueError(f"STIR_DISPATCH_TOKEN_FILE: {self.token_file} is empty")
            return text
        if self.token.get_secret_value():
            return self.token.get_secret_value()
        raise ValueError("no scraper token: set STIR_DISPATCH_TOKEN_FILE (a file holding the token)")

    @property
    def send_log(self) -> Path:
        """When the last window's POSTs went out (so that a restart keeps the rate cap)."""
        return self.state_dir / "dispatch" / f"{self.group_id}.sends"
