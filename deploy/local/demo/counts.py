"""What each stage holds after the demo (Kafka topics, ClickHouse tables, serving tables), and the serving
rows the summary shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from deploy.local.demo.common import cdc_topics
from schemas.kafka import end_offsets
from schemas.settings import CoreSettings
from schemas.topics import SOURCE_SCHEMA, Topology

API_TOPICS = ("social.profile.snapshot", "social.post.snapshot", "social.scrape.status")
AGENT_TOPICS = ("metrics.profile.rolling", "metrics.post.rolling", "status.scrape.post")
SERVING_TABLES = ("profile_summary", "post_metrics", "leaderboard_monthly", "profile_followers_daily",
                  "scrape_health", "scrape_post_status", "collection_summary")  # fmt: skip

CH_ROWS = (
    "SELECT (SELECT count() FROM profile_rolling) + (SELECT count() FROM post_rolling) + "
    "(SELECT count() FROM scrape_post_status) + (SELECT sum(snapshots) FROM "
    "(SELECT uniqExactMerge(snapshots) AS snapshots FROM profile_daily GROUP BY profile_id, day))"
)
TOP10 = (
    "SELECT rank, platform, profile_id, value, prev_rank FROM {leaderboard} "
    "WHERE metric = 'followers' AND scope = 'global' AND platform = 'instagram' ORDER BY rank LIMIT 10"
)
HANDLES = "SELECT id::text, handle, category FROM {profiles} WHERE id::text = ANY(%s)"
HIRING_BY_STATUS = "SELECT status, count(*) FROM {} GROUP BY status ORDER BY count(*) DESC"
COMPANIES = (
    "SELECT company_name, processes, offers, ghosted, round(response_rate::numeric, 1), "
    "round(avg_applied_days::numeric, 1) FROM {} ORDER BY processes DESC LIMIT 5"
)
TENANTS_LATEST = (
    "SELECT DISTINCT ON (tenant_id) tenant_id, day, dau, wau, mau, sessions, round(avg_session_s::numeric, 0) "
    "FROM {} ORDER BY tenant_id, day DESC"
)
SECURITY_BY_STATUS = "SELECT status, count(*) FROM {} GROUP BY status"


@dataclass
class DomainRows:
    """What the summary shows of the hiring and user-activity serving tables."""

    hiring: list[tuple[Any, ...]] = field(default_factory=list)
    companies: list[tuple[Any, ...]] = field(default_factory=list)
    tenants: list[tuple[Any, ...]] = field(default_factory=list)
    security: list[tuple[Any, ...]] = field(default_factory=list)


def counts(core: CoreSettings, ch: Any, dsn: str, schema: str) -> dict[str, int]:
    """Messages and rows per stage, totals in this stack (not only this run)."""
    topology = Topology(core)
    out = {
        "Debezium CDC messages": end_offsets(core.bootstrap, cdc_topics(core)),
        "Kafka messages on the API topics (multi-row)": end_offsets(
            core.bootstrap, [topology.name(t) for t in API_TOPICS]
        ),
        "Kafka messages out of the Faust agents (multi-row)": end_offsets(
            core.bootstrap, [topology.name(t) for t in AGENT_TOPICS]
        ),
        "ClickHouse rows (latest-state tables + snapshots)": int(ch.query(CH_ROWS).result_rows[0][0]),
    }
    with psycopg.connect(dsn) as conn:
        total = 0
        for table in SERVING_TABLES:
            r = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()
            total += int(r[0]) if r else 0
        out["PostgreSQL serving-table rows"] = total
    return out


def top10(serving_dsn: str, oltp_dsn: str, schema: str) -> list[tuple[Any, ...]]:
    """The current month's global Instagram follower leaderboard (read as the app, from serving), with handles
    and categories from OLTP (read as its owner): each role reads only its side."""
    board = sql.SQL(TOP10).format(leaderboard=sql.Identifier(schema, "leaderboard_current"))
    with psycopg.connect(serving_dsn) as conn:
        rows = conn.execute(board).fetchall()
    with psycopg.connect(oltp_dsn) as conn:
        query = sql.SQL(HANDLES).format(profiles=sql.Identifier(SOURCE_SCHEMA, "profiles"))
        names = {pid: (handle, category) for pid, handle, category in conn.execute(query, ([r[2] for r in rows],))}
    return [(rank, platform, *names.get(pid, (None, None)), value, prev) for rank, platform, pid, value, prev in rows]


def domain_rows(dsn: str, schema: str) -> DomainRows:
    def q(template: str, table: str) -> sql.Composed:
        return sql.SQL(template).format(sql.Identifier(schema, table))

    with psycopg.connect(dsn) as conn:
        return DomainRows(
            hiring=conn.execute(q(HIRING_BY_STATUS, "hiring_processes")).fetchall(),
            companies=conn.execute(q(COMPANIES, "interview_analytics")).fetchall(),
            tenants=conn.execute(q(TENANTS_LATEST, "tenant_activity")).fetchall(),
            security=conn.execute(q(SECURITY_BY_STATUS, "account_security")).fetchall(),
        )
