"""The freshness stamp is never ahead of the truth: OLTP commits go on while the stamp of ``profile_summary`` and the
table are read in one snapshot; every commit the stamp covers (its WAL position after COMMIT below the stamp's
LSN, or its COMMIT returned before the stamp's commit time) must be visible in the table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


@dataclass
class StampCheck:
    commits: int = 0
    reads: int = 0
    covered: int = 0  # commit-read pairs the stamp covered (each checked)
    max_behind_s: float = 0.0  # how far the stamp's commit time trailed the newest commit, at most
    violations: list[str] = field(default_factory=list)
    settled_after_s: float | None = None  # the last commits were all visible this long after the last one


def check_stamps(oltp_dsn: str, serving_dsn: str, schema: str, profile_ids: list[int], tag: str,
                 seconds: float = 20.0) -> StampCheck:  # fmt: skip
    out = StampCheck()
    done: list[tuple[int, int, int, datetime]] = []  # (profile id, seq, WAL position after COMMIT, COMMIT returned)
    latest: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    with psycopg.connect(oltp_dsn, autocommit=True) as writer, psycopg.connect(serving_dsn) as reader:
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        seq = 0
        while time.monotonic() < deadline:
            time.sleep(0.1)
            pid = profile_ids[seq % len(profile_ids)]
            writer.execute("UPDATE profiles SET category = %s WHERE id = %s", (f"{tag}-{seq}", pid))
            row = writer.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None
            done.append((pid, seq, lsn_int(row[0]), datetime.now(UTC)))
            latest[pid] = seq
            seq += 1
            with reader.transaction():  # the stamp and the rows it speaks for, in one snapshot
                stamp = reader.execute(
                    f'SELECT source_lsn::text, source_commit_time FROM "{schema}".stir_load_state '
                    "WHERE spec = 'profile_summary'"
                ).fetchone()
                served: dict[str, str | None] = dict(
                    reader.execute(f'SELECT profile_id, category FROM "{schema}".profile_summary').fetchall()
                )
            out.reads += 1
            if stamp is None or stamp[0] is None:
                continue
            stamp_lsn, stamp_time = lsn_int(stamp[0]), stamp[1]
            out.max_behind_s = max(out.max_behind_s, (done[-1][3] - stamp_time).total_seconds())
            seen: dict[int, int] = {}
            for pid_s, category in served.items():
                if category and category.startswith(f"{tag}-"):
                    seen[int(pid_s)] = int(category.rsplit("-", 1)[1])
            for c_pid, c_seq, c_lsn, c_done in done:
                if c_lsn < stamp_lsn or c_done <= stamp_time:
                    out.covered += 1
                    if seen.get(c_pid, -1) < c_seq and len(out.violations) < 5:
                        out.violations.append(
                            f"the stamp (LSN {stamp[0]}, commit time {stamp_time}) covers the commit of {tag}-{c_seq} "
                            f"on profile {c_pid} (WAL {c_lsn:X}, returned {c_done}), which the table does not show "
                            f"(it shows {seen.get(c_pid)})"
                        )
        for _ in range(100):  # for the report: whether a missing commit shows up later at all
            time.sleep(0.2)
            with reader.transaction():
                served = dict(reader.execute(f'SELECT profile_id, category FROM "{schema}".profile_summary').fetchall())
            shown = {int(p): c for p, c in served.items() if str(p).isdigit() and int(p) in latest}
            if all(shown.get(p) == f"{tag}-{latest[p]}" for p in latest):
                out.settled_after_s = round((datetime.now(UTC) - done[-1][3]).total_seconds(), 2)
                break
    out.commits = len(done)
    return out
