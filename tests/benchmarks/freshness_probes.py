"""The freshness benchmark's probes: one ``UPDATE`` a second on a profile that gets no load, timed until its new
version is in ClickHouse, in the serving table ``profile_summary`` and in the app's discovery table
``instagram_account`` (refreshed every 5 s), and where that time went (per stage, from the topics'
record timestamps and the rows' ``inserted_at``)."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from typing import Any

import psycopg


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    return statistics.quantiles(xs, n=100, method="inclusive")[int(p) - 1] if len(xs) > 1 else xs[0]


class Probes:
    """Commits one probe per second and records when its new version reaches ClickHouse and the serving table."""

    def __init__(self, dsn: str, schema: str, ch: Any, ids: list[int], bootstrap: str, prefix: str) -> None:
        self.dsn, self.schema, self.ch, self.ids = dsn, schema, ch, ids
        self.bootstrap, self.prefix = bootstrap, prefix
        self.pending: dict[str, tuple[int, float]] = {}
        self.to_ch: dict[str, float] = {}
        self.to_serving: dict[str, float] = {}
        self.to_discovery: dict[str, float] = {}
        self.committed_at: dict[str, float] = {}  # wall clock, for the stage breakdown
        self.lock = threading.Lock()

    def _version(self, pid: str) -> int:
        rows = self.ch.query(f"SELECT max(version) FROM profile_rolling WHERE profile_id = '{pid}'").result_rows
        return int(rows[0][0] or 0)

    def commit_every_second(self, seconds: float) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            t_end = time.monotonic() + seconds
            while time.monotonic() < t_end and self.ids:
                tick = time.monotonic()
                pid = str(self.ids.pop())
                before = self._version(pid)
                conn.execute("UPDATE profiles SET updated_at = now() WHERE id = %s", (int(pid),))
                with self.lock:
                    self.pending[pid] = (before, time.monotonic())
                    self.committed_at[pid] = time.time()
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))

    def poll_until_done(self, stop: threading.Event, deadline_s: float = 120) -> None:
        try:
            self._poll(stop, deadline_s)
        finally:
            self.poll_cpu_s = time.thread_time()

    def _poll(self, stop: threading.Event, deadline_s: float) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            end = None
            while True:
                if stop.is_set() and end is None:
                    end = time.monotonic() + deadline_s
                with self.lock:
                    pending = dict(self.pending)
                waiting_ch = [p for p in pending if p not in self.to_ch]
                waiting_pg = [p for p in pending if p not in self.to_serving]
                waiting_dc = [p for p in pending if p not in self.to_discovery]
                if stop.is_set() and not waiting_ch and not waiting_pg and not waiting_dc:
                    return
                if end is not None and time.monotonic() > end:
                    return
                now = time.monotonic()
                if waiting_ch:
                    ids = ",".join(f"'{p}'" for p in waiting_ch)
                    q = f"SELECT profile_id, max(version) FROM profile_rolling WHERE profile_id IN ({ids}) GROUP BY 1"
                    for pid, v in self.ch.query(q).result_rows:
                        if v > pending[pid][0]:
                            self.to_ch[pid] = now - pending[pid][1]
                if waiting_pg:
                    rows = conn.execute(f"SELECT profile_id, version FROM {self.schema}.profile_summary "
                                        "WHERE profile_id = ANY(%s)", (waiting_pg,)).fetchall()  # fmt: skip
                    for pid, v in rows:
                        if v > pending[pid][0]:
                            self.to_serving[pid] = now - pending[pid][1]
                if waiting_dc:
                    try:
                        rows = conn.execute(f"SELECT profile_id, version FROM {self.schema}.instagram_account "
                                            "WHERE profile_id = ANY(%s)", (waiting_dc,)).fetchall()  # fmt: skip
                    except psycopg.errors.UndefinedTable:
                        rows = []
                    for pid, v in rows:
                        if v > pending[pid][0]:
                            self.to_discovery[pid] = now - pending[pid][1]
                time.sleep(0.1)


def _records(bootstrap: str, topic: str, since_ms: int, match: Any) -> dict[str, int]:
    """probe id -> Kafka timestamp of the first record (line) ``match(line)`` gives that id, from ``since_ms``."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"stages-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False})  # fmt: skip
    found: dict[str, int] = {}
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        starts = c.offsets_for_times([TopicPartition(topic, p, since_ms) for p in parts], timeout=10)
        for tp in starts:
            _, high = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            if tp.offset < 0 or tp.offset >= high:
                continue
            c.assign([tp])
            pos = tp.offset
            while pos < high:
                batch = c.consume(500, 2.0)
                if not batch:
                    break
                for msg in batch:
                    pos = (msg.offset() or 0) + 1
                    for line in (msg.value() or b"").split(b"\n"):
                        pid = match(line)
                        if pid is not None and pid not in found:
                            found[pid] = msg.timestamp()[1]
    finally:
        c.close()
    return found


def stages(bootstrap: str, prefix: str, probes: Probes) -> dict[str, dict[str, int]]:
    """Where a probe's time goes (ms p50 / p95): commit -> CDC record (Debezium), -> the worker's output record,
    -> the row's ``inserted_at`` in ClickHouse (the warehouse's intake), -> seen by the probe's poll."""
    import json

    committed = dict(probes.committed_at)
    ids = set(committed)
    since = int(min(committed.values(), default=time.time()) * 1000) - 1000

    def cdc_id(line: bytes) -> str | None:
        if b'"id"' not in line:
            return None
        change = json.loads(line).get("payload") or json.loads(line)
        if change.get("op") != "u":  # the snapshot's reads of the probe rows come before their updates
            return None
        pid = str((change.get("after") or {}).get("id"))
        return pid if pid in ids else None

    def out_id(line: bytes) -> str | None:
        if b"profile_id" not in line:
            return None
        row = json.loads(line)
        pid = str(row.get("profile_id"))
        return pid if pid in ids and row.get("version", 0) > probes.pending[pid][0] else None

    cdc = _records(bootstrap, f"{prefix}cdc.public.profiles", since, cdc_id)
    out = _records(bootstrap, f"{prefix}metrics.profile.rolling", since, out_id)
    inserted: dict[str, int] = {}
    for pid in ids:
        rows = probes.ch.query("SELECT toUnixTimestamp64Milli(min(inserted_at)) FROM profile_rolling "
                               "WHERE profile_id = {pid:String} AND version > {v:Int64}",
                               parameters={"pid": pid, "v": probes.pending[pid][0]}).result_rows  # fmt: skip
        if rows and rows[0][0]:
            inserted[pid] = int(rows[0][0])
    spans: dict[str, list[float]] = {"debezium": [], "worker": [], "warehouse": [], "poll": []}
    for pid, t in committed.items():
        if pid in cdc and pid in out and pid in inserted and pid in probes.to_ch:
            seen = (t + probes.to_ch[pid]) * 1000
            spans["debezium"].append(cdc[pid] - t * 1000)
            spans["worker"].append(out[pid] - cdc[pid])
            spans["warehouse"].append(inserted[pid] - out[pid])
            spans["poll"].append(seen - inserted[pid])
    return {k: {"50": round(pct(v, 50) or 0), "95": round(pct(v, 95) or 0), "n": len(v)}
            for k, v in spans.items() if v}  # fmt: skip
