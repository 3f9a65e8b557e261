"""Settings of the serving loader (env prefix ``STIR_LOADER_``; shared fields from ``CoreSettings``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from schemas.roles import AUDIT, LOADER
from schemas.settings import CoreSettings
from serving_loader.swap import SwapPolicy


class LoaderSettings(CoreSettings):
    model_config = SettingsConfigDict(env_prefix="STIR_LOADER_", extra="ignore")

    serving_dsn: SecretStr | None = Field(None, description="serving database (default: the OLTP database)")
    schema_name: str = Field("", pattern=r"^([a-z_][a-z0-9_]*)?$",
                             description="schema of the serving tables (default: serving, scoped)")  # fmt: skip
    lock_timeout_ms: int = Field(50, ge=1, le=60000, description="how long a swap's first ask may wait in the "
                                 "lock queue (readers behind it wait as long); a longer holder defers it")  # fmt: skip
    max_lock_timeout_ms: int = Field(1000, ge=1, le=60000, description="each ask that timed out doubles the next "
                                     "one's lock_timeout, up to this (readers that never pause)")  # fmt: skip
    swap_max_defer_s: float = Field(300.0, ge=1, le=86400, description="a swap deferred this long (a reader holds "
                                    "the table) fails; the live table stays")  # fmt: skip
    mode: Literal["auto", "snapshot"] = Field("auto", description="auto: incremental refresh for the specs that "
                                              "declare it, snapshot + swap for the others; snapshot: every spec "
                                              "swaps")  # fmt: skip
    overlap_s: float = Field(2.0, gt=0, le=3600, description="an incremental refresh reads again the rows inserted "
                             "this long before the last one's end (a part that became visible late)")  # fmt: skip
    interval_scale: float = Field(1.0, gt=0, description="multiplies every spec's refresh interval")
    only: list[str] = Field(default_factory=list, description="run only these specs (JSON list)")
    track_source: bool = Field(True, description="record in each refresh the source position its table reflects "
                               "(follows it through the pipeline's consumer groups and the CDC connector)")  # fmt: skip
    reconcile_every_s: float = Field(300.0, ge=0, description="compare the reconciled serving tables with their "
                                     "OLTP source this often (0: never)")  # fmt: skip
    audit_dsn: SecretStr | None = Field(None, description="the OLTP database as the reconciliation reads it "
                                        "(default: the local server as stir_audit)")  # fmt: skip
    probe_connect: bool = Field(True, description="export Kafka Connect task state and slot lag as metrics")
    metrics_port: int | None = Field(None, ge=1024, le=65535, description="Prometheus /metrics port")
    block_rows: int = Field(65536, ge=1000, description="rows per block streamed out of ClickHouse")

    @model_validator(mode="after")
    def _lock_timeouts(self) -> LoaderSettings:
        if self.max_lock_timeout_ms < self.lock_timeout_ms:
            raise ValueError(f"STIR_LOADER_MAX_LOCK_TIMEOUT_MS ({self.max_lock_timeout_ms}) is below "
                             f"STIR_LOADER_LOCK_TIMEOUT_MS ({self.lock_timeout_ms})")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _scoped_names(self) -> LoaderSettings:
        if not self.schema_name:
            self.schema_name = self.scoped("serving", "_")
        return self

    def swap_policy(self) -> SwapPolicy:
        return SwapPolicy(
            lock_timeout_ms=self.lock_timeout_ms,
            max_lock_timeout_ms=self.max_lock_timeout_ms,
            max_defer_s=self.swap_max_defer_s,
        )

    def audit(self) -> str:
        """The OLTP database as the reconciliation's role reads it (key columns only)."""
        return self.audit_dsn.get_secret_value() if self.audit_dsn else self.dsn(role=AUDIT)

    def serving(self) -> str:
        """The serving database's connection string (the local server: as the loader's own role)."""
        return self.serving_dsn.get_secret_value() if self.serving_dsn else self.dsn(role=LOADER)
