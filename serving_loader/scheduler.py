"""Run every spec at its own interval (``stir load run``), or one spec once (``stir load once``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from serving_loader.loader import RunResult, describe_failure, ensure_schema, run_spec
from serving_loader.settings import LoaderSettings
from serving_loader.specs import SPECS, Spec, by_name

log = logging.getLogger("stir.loader")


class Loader:
    def __init__(
        self, settings: LoaderSettings, dsn: str, ch_client: Any, probes: Sequence[Callable[[], None]] = ()
    ) -> None:
        """``probes`` run once per loop turn (the local runtime adds its CDC health probe)."""
        self.s = settings
        self.probes = list(probes)
        self.dsn = dsn
        self.ch = ch_client
        self.conn = psycopg.connect(dsn, autocommit=True)
        ensure_schema(self.conn, settings.schema_name)

    def specs(self) -> list[Spec]:
        known = by_name()
        unknown = [n for n in self.s.only if n not in known]
        if unknown:
            raise ValueError(f"STIR_LOADER_ONLY names unknown specs: {', '.join(unknown)} (known: {', '.join(known)})")
        return [known[n] for n in self.s.only] if self.s.only else list(SPECS)

    def once(self, spec: Spec) -> RunResult:
        with self.ch.query_row_block_stream(spec.query, settings={"max_block_size": self.s.block_rows}) as stream:
            names = list(stream.source.column_names)
            # an empty result can come without a header (chdb's Native output): nothing to check, 0 rows
            if names and names != spec.column_names:
                raise ValueError(f"{spec.name}: the query returns columns {names}, the spec expects "
                                 f"{spec.column_names}")  # fmt: skip
            return run_spec(spec, iter(stream), self.conn, self.s.schema_name, self.s.lock_timeout_ms,
                            self.s.swap_retries)  # fmt: skip

    def run(self, stop: threading.Event) -> None:
        specs = self.specs()
        due = {s.name: 0.0 for s in specs}
        while not stop.is_set():
            now = time.monotonic()
            for spec in specs:
                if now < due[spec.name] or stop.is_set():
                    continue
                try:
                    r = self.once(spec)
                    log.info("%s: %s %d rows (copy %.3fs, swap %.3fs)", spec.name, r.outcome, r.rows,
                             r.phases.get("copy", 0), r.phases.get("swap", 0))  # fmt: skip
                except Exception as exc:  # this table waits for its next turn; the others go on
                    log.error("%s: load failed: %s", spec.name, describe_failure(exc))
                due[spec.name] = time.monotonic() + spec.interval_s * self.s.interval_scale
            for probe in self.probes:
                try:
                    probe()
                except Exception as exc:
                    log.warning("probe failed: %s", exc)
            stop.wait(max(0.05, min(due.values()) - time.monotonic()))

    def close(self) -> None:
        self.conn.close()
