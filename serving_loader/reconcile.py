"""Reconciliation: each serving table with a ``Reconcile`` is compared with its OLTP source — entity counts, a
checksum of the keys, and the keys missing (or, where the table holds only OLTP entities, extra).

A change in flight is not drift: a pass compares what both sides hold now, and a key counts as drift only when a
second pass, taken once the table's source position (``stir_load_state``) has moved past the first pass, still
finds it (every change committed before the first pass is in the table by then). The OLTP side is read as the
reconciliation's own role (``stir_audit``: the key columns only).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from prometheus_client import Gauge
from psycopg import sql

from serving_loader.specs import SPECS, Spec

DRIFT = Gauge("stir_serving_drift_rows", "Keys that differ between a serving table and its OLTP source, in two "
              "passes (kind: missing | extra)", ["spec", "kind"])  # fmt: skip
RECONCILED = Gauge("stir_serving_reconciled_timestamp_seconds", "When the table was last reconciled", ["spec"])
SAMPLE = 20


@dataclass
class Reconciled:
    spec: str
    oltp_rows: int
    serving_rows: int
    oltp_checksum: str
    serving_checksum: str  # over the serving keys the comparison covers (all, or those of OLTP entities)
    missing: set[str] = field(default_factory=set)  # in OLTP, not in serving
    extra: set[str] = field(default_factory=set)  # in serving, not in OLTP (only where the table holds OLTP only)

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.extra)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing (e.g. {', '.join(sorted(self.missing)[:5])})")
        if self.extra:
            parts.append(f"{len(self.extra)} extra (e.g. {', '.join(sorted(self.extra)[:5])})")
        return "; ".join(parts) or "none"


def checksum(keys: set[str]) -> str:
    """Order-free: the XOR of each key's 64-bit BLAKE2b digest, with the count."""
    x = 0
    for k in keys:
        x ^= int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big")
    return f"{len(keys)}:{x:016x}"


def compare(spec: Spec, oltp: psycopg.Connection[Any], serving: psycopg.Connection[Any], schema: str) -> Reconciled:
    """One pass: what both sides hold now."""
    assert spec.reconcile is not None
    source = {str(r[0]) for r in oltp.execute(spec.reconcile.source).fetchall()}
    key = sql.Identifier(spec.key[0])
    served = {str(r[0]) for r in serving.execute(
        sql.SQL("SELECT {}::text FROM {}").format(key, sql.Identifier(schema, spec.name))).fetchall()}  # fmt: skip
    covered = served & source if spec.reconcile.others else served
    return Reconciled(spec.name, len(source), len(served), checksum(source), checksum(covered),
                      missing=source - served, extra=set() if spec.reconcile.others else served - source)  # fmt: skip


def position(serving: psycopg.Connection[Any], schema: str, spec: str) -> datetime | None:
    row = serving.execute(sql.SQL("SELECT source_commit_time FROM {}.stir_load_state WHERE spec = %s").format(
        sql.Identifier(schema)), (spec,)).fetchone()  # fmt: skip
    return row[0] if row else None


def specs() -> list[Spec]:
    return [s for s in SPECS if s.reconcile is not None]


class Reconciler:
    """Reconciles every table with a ``Reconcile`` at most every ``every_s`` (call it from a loop); a key is drift
    when two passes, the second after the table's source position passed the first, both find it."""

    def __init__(self, oltp_dsn: Callable[[], str], serving_dsn: str, schema: str, every_s: float) -> None:
        self.oltp_dsn, self.serving_dsn, self.schema, self.every_s = oltp_dsn, serving_dsn, schema, every_s
        self._first: dict[str, tuple[datetime, Reconciled]] = {}
        self._next = 0.0
        self.last: dict[str, Reconciled] = {}

    def __call__(self) -> None:
        if time.monotonic() < self._next:
            return
        with psycopg.connect(self.oltp_dsn(), autocommit=True, connect_timeout=5) as oltp, \
                psycopg.connect(self.serving_dsn, autocommit=True, connect_timeout=5) as serving:  # fmt: skip
            pending = False
            for spec in specs():
                pending |= not self._pass(spec, oltp, serving)
        self._next = time.monotonic() + (5.0 if pending else self.every_s)

    def _pass(self, spec: Spec, oltp: psycopg.Connection[Any], serving: psycopg.Connection[Any]) -> bool:
        """True when this spec's check is complete (two passes) and recorded."""
        first = self._first.get(spec.name)
        if first is None:
            self._first[spec.name] = (datetime.now(UTC), compare(spec, oltp, serving, self.schema))
            return False
        at = position(serving, self.schema, spec.name)
        if at is None or at <= first[0]:
            return False  # the table has not caught up with the first pass yet
        second = compare(spec, oltp, serving, self.schema)
        second.missing &= first[1].missing
        second.extra &= first[1].extra
        del self._first[spec.name]
        self.last[spec.name] = second
        DRIFT.labels(spec.name, "missing").set(len(second.missing))
        DRIFT.labels(spec.name, "extra").set(len(second.extra))
        RECONCILED.labels(spec.name).set(time.time())
        return True

    def run_once(self, timeout_s: float = 120.0) -> dict[str, Reconciled]:
        """Both passes now (waiting for the tables to catch up, at most ``timeout_s``): `stir load reconcile`."""
        self._first.clear()
        self.last.clear()
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(self.oltp_dsn(), autocommit=True, connect_timeout=5) as oltp, \
                psycopg.connect(self.serving_dsn, autocommit=True, connect_timeout=5) as serving:  # fmt: skip
            todo = specs()
            while todo and time.monotonic() < deadline:
                todo = [s for s in todo if not self._pass(s, oltp, serving)]
                if todo:
                    time.sleep(0.5)
        if todo:
            names = ", ".join(s.name for s in todo)
            raise TimeoutError(f"{names}: the table's source position did not move past the first pass within "
                               f"{timeout_s:.0f} s (is `stir load run` running, the pipeline caught up?)")  # fmt: skip
        return dict(self.last)
