"""Freshness as a user of the app sees it: how long a PostgreSQL commit takes to reach ClickHouse and the serving
table.

A probe commits ``UPDATE profiles SET updated_at = now()`` on one profile (its figures do not change); the profile
agent turns the CDC row into a new ``metrics.profile.rolling`` version. The probe is done when that version is in
ClickHouse's ``profile_rolling`` and in the serving table ``profile_summary`` (read as the app reads it). The
probes are spread over the report's window, one profile each, on the newest PostgreSQL profiles the serving table
already holds. Any newer version counts: a snapshot of a probed profile arriving meanwhile makes its probe look
fresher than it is (the newest profiles of a running scraper are the likeliest to get one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

CH_VERSIONS = "SELECT profile_id, max(version) FROM profile_rolling WHERE profile_id IN %(ids)s GROUP BY profile_id"
TOUCH = "UPDATE profiles SET updated_at = now() WHERE id = %s"

# ClickHouse's parameterized query: (sql, parameters) -> rows
ChQuery = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]


@dataclass
class Probe:
    profile_id: str
    at_s: float  # when it was committed, seconds into the window
    before: int  # the profile's newest version in ClickHouse before the commit
    committed: float  # time.monotonic() after the commit returned
    to_clickhouse_ms: float | None = None
    to_serving_ms: float | None = None

    @property
    def done(self) -> bool:
        return self.to_clickhouse_ms is not None and self.to_serving_ms is not None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the values; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least the first
    return ordered[int(rank) - 1]


class Prober:
    """Runs ``count`` probes spread over ``window_s`` in a thread; ``join`` waits up to ``timeout_s`` more for the
    last ones to arrive."""

    def __init__(self, oltp_dsn: str, serving_dsn: str, schema: str, ch: ChQuery, count: int, window_s: float,
                 timeout_s: float = 60.0, poll_s: float = 0.05) -> None:  # fmt: skip
        self.oltp_dsn, self.serving_dsn, self.schema, self.ch = oltp_dsn, serving_dsn, schema, ch
        self.count, self.window_s, self.timeout_s, self.poll_s = count, window_s, timeout_s, poll_s
        self.probes: list[Probe] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="freshness-probes", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> list[Probe]:
        """The probes, after the last one arrived or its time ran out (a missing figure stays None)."""
        self._thread.join(self.window_s + self.timeout_s + 30)
        self._stop.set()
        self._thread.join(10)
        return list(self.probes)

    def _ids(self, oltp: psycopg.Connection[Any], serving: psycopg.Connection[Any]) -> list[str]:
        """The newest PostgreSQL profiles the serving table already holds (profiles only the ingest API knows
        have no row to commit)."""
        newest = [str(r[0]) for r in oltp.execute("SELECT id FROM profiles ORDER BY id DESC LIMIT %s",
                                                  (self.count * 20,))]  # fmt: skip
        held = sql.SQL("SELECT DISTINCT profile_id FROM {} WHERE profile_id = ANY(%s)").format(
            sql.Identifier(self.schema, "profile_summary")
        )
        present = {str(r[0]) for r in serving.execute(held, (newest,))}
        return [pid for pid in newest if pid in present][: self.count]

    def _run(self) -> None:
        try:
            with psycopg.connect(self.oltp_dsn, autocommit=True) as oltp, \
                    psycopg.connect(self.serving_dsn, autocommit=True) as serving:  # fmt: skip
                self._probe(oltp, serving)
        except Exception as exc:  # PostgreSQL or ClickHouse: the report says so and goes on without the rest
            self.error = f"{type(exc).__name__}: {exc}"

    def _probe(self, oltp: psycopg.Connection[Any], serving: psycopg.Connection[Any]) -> None:
        ids = self._ids(oltp, serving)
        if not ids:
            raise RuntimeError("no PostgreSQL profile is in the serving table profile_summary yet: nothing to probe")
        versions = sql.SQL("SELECT profile_id, version FROM {} WHERE profile_id = ANY(%s)").format(
            sql.Identifier(self.schema, "profile_summary")
        )
        every = self.window_s / len(ids)
        t0 = time.monotonic()
        todo = list(ids)
        while not self._stop.is_set():
            now = time.monotonic()
            if todo and now - t0 >= every * (len(ids) - len(todo)):
                pid = todo.pop(0)
                before = self._ch_versions([pid]).get(pid, 0)
                if oltp.execute(TOUCH, (int(pid),)).rowcount == 1:
                    self.probes.append(Probe(pid, time.monotonic() - t0, before, time.monotonic()))
            waiting = {p.profile_id: p for p in self.probes if p.to_clickhouse_ms is None}
            if waiting:
                for pid, version in self._ch_versions(list(waiting)).items():
                    if version > waiting[pid].before:
                        waiting[pid].to_clickhouse_ms = (time.monotonic() - waiting[pid].committed) * 1000
            waiting = {p.profile_id: p for p in self.probes if p.to_serving_ms is None}
            if waiting:
                for pid, version in serving.execute(versions, (list(waiting),)):
                    if version is not None and int(version) > waiting[pid].before:
                        waiting[pid].to_serving_ms = (time.monotonic() - waiting[pid].committed) * 1000
            if not todo and all(p.done for p in self.probes):
                return
            if not todo and now - t0 > self.window_s + self.timeout_s:
                return
            time.sleep(self.poll_s)

    def _ch_versions(self, ids: list[str]) -> dict[str, int]:
        return {str(pid): int(v or 0) for pid, v in self.ch(CH_VERSIONS, {"ids": tuple(ids)})}
