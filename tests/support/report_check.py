"""Run in a child process (chdb holds one data path per process): migrate an embedded warehouse, insert profile
snapshots of two months into its source table, and print `stir report`'s warehouse figures as JSON."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_ddl.backends import ChdbBackend
from clickhouse_ddl.runner import migrate
from deploy.local.report.warehouse import warehouse_figures

META = ',"_topic":"t","_partition":0,"_offset":0,"_timestamp_ms":null,"_raw_message":"","_error":""}'
# (profile, handle, followers) at the end of October, then of November; "d" was renamed in November
OCTOBER = [("a", "ada", 400), ("b", "bo", 300), ("c", "cy", 200), ("d", "dee", 100)]
NOVEMBER = [("a", "ada", 500), ("b", "bo", 350), ("c", "cy", 900), ("d", "dee.new", 1000)]


def ms(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, 12, tzinfo=UTC).timestamp() * 1000)


def main(path: str) -> None:
    b = ChdbBackend(Path(path), "marts")
    migrate(b, "embedded")
    rows = []
    for month, snaps in ((10, OCTOBER), (11, NOVEMBER)):
        for pid, handle, followers in snaps:
            rows.append({"event_id": str(uuid.uuid4()), "event_time": ms(2026, month, 28), "ingested_at": None,
                         "source": "t", "schema_version": 1, "profile_id": pid, "platform": "instagram",
                         "handle": handle, "followers": followers, "following": None, "posts_count": None,
                         "category": None, "language": None, "country": None})  # fmt: skip
    data = "\n".join(json.dumps(r)[:-1] + META for r in rows)
    b.insert("profile_snapshot_queue", "JSONEachRow", data.encode())
    figures = warehouse_figures(lambda sql: [tuple(r) for r in b.rows(sql)])
    print(json.dumps(figures["movers"]))


if __name__ == "__main__":
    main(sys.argv[1])
