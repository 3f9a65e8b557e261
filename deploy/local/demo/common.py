"""What every part of the demo shares: its size, time units, the CDC topics it writes to, small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.settings import CoreSettings
from schemas.topics import CDC_LOGICAL_PREFIX, Topology

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000

# the OLTP tables the demo writes (each row one CDC message on the table's topic)
CREATOR_TABLES = ("profiles", "posts", "scrape_requests", "collections", "collection_items")
HIRING_TABLES = ("companies", "job_positions", "processes", "interviews", "outcomes")


@dataclass
class DemoSize:
    profiles: int = 300
    days: int = 60
    posts_per_profile: int = 12
    collections: int = 40
    probes: int = 20
    seed: int = 2026


def cdc_topics(core: CoreSettings) -> list[str]:
    """The deployed names of the CDC topics of the tables the demo writes."""
    topology = Topology(core)
    return [topology.name(CDC_LOGICAL_PREFIX + table) for table in (*CREATOR_TABLES, *HIRING_TABLES)]


def progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def dt(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (a timestamptz parameter)."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def next_id(conn: psycopg.Connection[Any], table: str) -> int:
    """One more than the largest ``id`` of ``table`` (so runs accumulate)."""
    query = sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(sql.Identifier(table))
    row = conn.execute(query).fetchone()
    return (int(row[0]) if row else 0) + 1
