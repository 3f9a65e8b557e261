"""The demo's hiring and user-activity workload, and what the demo prints about them.

Hiring: companies, one position per application, processes that move through interviews to an outcome, some
that go silent (ghosted after 21 days of event time), written to PostgreSQL (Debezium streams them). User activity:
tenants' sessions, feature uses, API calls and logins (with failure bursts) posted to the ingest API.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

DAY = 86_400_000
HOUR = 3_600_000
MIN = 60_000
HIRING_CDC_TOPICS = [f"cdc.public.{t}" for t in ("companies", "job_positions", "processes", "interviews", "outcomes")]
STAGES = [["screening"], ["screening", "technical"], ["screening", "onsite", "final"], ["technical", "final"]]


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _next_id(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
    return (int(row[0]) if row else 0) + 1


def play_hiring(dsn: str, rng: random.Random, processes: int = 150) -> int:
    """Returns the number of rows written (each one a CDC event)."""
    now = int(time.time() * 1000)
    rows = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        cid0, pos0, proc0 = _next_id(conn, "companies"), _next_id(conn, "job_positions"), _next_id(conn, "processes")
        companies = list(range(cid0, cid0 + 8))
        for c in companies:
            conn.execute("INSERT INTO companies (id, name) VALUES (%s, %s)", (c, f"Company {c}"))
            rows += 1
        for n in range(processes):
            pos, proc = pos0 + n, proc0 + n
            applied = now - rng.randint(1, 90) * DAY - rng.randint(0, DAY)
            conn.execute("INSERT INTO job_positions (id, company_id, title, location) VALUES (%s, %s, %s, %s)",
                         (pos, rng.choice(companies), rng.choice(["Data Engineer", "Designer", "PM", "SRE"]),
                          rng.choice(["Remote", "Berlin", "Lisbon"])))  # fmt: skip
            conn.execute("INSERT INTO processes (id, position_id, candidate_name, applied_at, updated_at) "
                         "VALUES (%s, %s, %s, %s, %s)",
                         (proc, pos, f"Candidate {proc}", _dt(applied), _dt(applied)))  # fmt: skip
            rows += 2
            t = applied
            silent = rng.random() < 0.15
            for stage in [] if silent else rng.choice(STAGES):
                t += rng.randint(HOUR, 8 * DAY)
                if t > now - HOUR:
                    break
                sched = t + rng.randint(HOUR, 7 * DAY)
                iv = conn.execute("INSERT INTO interviews (process_id, stage, scheduled_at, created_at, updated_at) "
                                  "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                                  (proc, stage, _dt(sched), _dt(t), _dt(t))).fetchone()  # fmt: skip
                rows += 1
                if sched < now and rng.random() < 0.7 and iv is not None:
                    conn.execute("UPDATE interviews SET status = 'completed', completed_at = %s, updated_at = %s "
                                 "WHERE id = %s", (_dt(sched + HOUR), _dt(sched + HOUR), iv[0]))  # fmt: skip
                    rows += 1
                    t = sched + HOUR
            if not silent and rng.random() < 0.75 and t < now - HOUR:
                decided = min(t + rng.randint(HOUR, 10 * DAY), now - MIN)
                outcome = rng.choice(["offer", "rejected", "rejected", "withdrawn"])
                conn.execute("INSERT INTO outcomes (process_id, outcome, decided_at) VALUES (%s, %s, %s)",
                             (proc, outcome, _dt(decided)))  # fmt: skip
                conn.execute("UPDATE processes SET status = %s, updated_at = %s WHERE id = %s",
                             (outcome, _dt(decided), proc))  # fmt: skip
                rows += 2
    return rows


def play_activity(client: Any, rng: random.Random, users: int = 80) -> None:
    """Sessions, feature uses, API calls and logins of ``users`` accounts of four tenants over 30 days."""
    now = int(time.time() * 1000)
    tenants = ["acme", "globex", "initech", "umbrella"]
    endpoints = ["/v1/profiles/{id}", "/v1/posts", "/v1/leaderboard", "/v1/collections/{id}"]
    for u in range(users):
        user, tenant = f"demo-user-{u}", tenants[u % len(tenants)]
        for d in range(rng.randint(2, 20)):
            t = now - rng.randint(0, 29) * DAY - rng.randint(HOUR, 12 * HOUR)
            sid = f"demo-{u}-{d}-{now}"
            client.send("activity.auth.attempt", {"event_time": t - MIN, "tenant_id": tenant, "user_id": user,
                                                  "success": True, "ip": None, "user_agent": None,
                                                  "failure_reason": None})  # fmt: skip
            client.send("activity.session.event", {"event_time": t, "session_id": sid, "tenant_id": tenant,
                                                   "user_id": user, "kind": "start"})  # fmt: skip
            for _ in range(rng.randint(1, 8)):
                t += rng.randint(MIN, 4 * MIN)
                client.send("activity.session.event", {"event_time": t, "session_id": sid, "tenant_id": tenant,
                                                       "user_id": user, "kind": "heartbeat"})  # fmt: skip
                if rng.random() < 0.4:
                    client.send("activity.feature.use", {"event_time": t, "tenant_id": tenant, "user_id": user,
                                                         "feature": rng.choice(["export", "alerts", "compare"]),
                                                         "action": None})  # fmt: skip
                status = rng.choice([200] * 30 + [404, 500])
                client.send("activity.api.call", {"event_time": t, "tenant_id": tenant, "user_id": user,
                                                  "endpoint": rng.choice(endpoints), "method": "GET",
                                                  "status_code": status,
                                                  "latency_ms": round(rng.lognormvariate(3.4, 0.5), 2)})  # fmt: skip
            if rng.random() < 0.85:
                client.send("activity.session.event", {"event_time": t + MIN, "session_id": sid, "tenant_id": tenant,
                                                       "user_id": user, "kind": "end"})  # fmt: skip
        if rng.random() < 0.1:  # a password-guessing burst in the last hour
            t = now - rng.randint(10 * MIN, HOUR)
            for _ in range(rng.randint(5, 9)):
                t += rng.randint(5_000, 60_000)
                client.send("activity.auth.attempt", {"event_time": t, "tenant_id": tenant, "user_id": user,
                                                      "success": False, "ip": "203.0.113.7", "user_agent": None,
                                                      "failure_reason": "bad_password"})  # fmt: skip


def print_domains(dsn: str, console: Console) -> None:
    with psycopg.connect(dsn) as conn:
        hiring = conn.execute("SELECT status, count(*) FROM serving.hiring_processes GROUP BY status "
                              "ORDER BY count(*) DESC").fetchall()  # fmt: skip
        companies = conn.execute("SELECT company_name, processes, offers, ghosted, round(response_rate::numeric, 1), "
                                 "round(avg_applied_days::numeric, 1) FROM serving.interview_analytics "
                                 "ORDER BY processes DESC LIMIT 5").fetchall()  # fmt: skip
        tenants = conn.execute("SELECT DISTINCT ON (tenant_id) tenant_id, day, dau, wau, mau, sessions, "
                               "round(avg_session_s::numeric, 0) FROM serving.tenant_activity "
                               "ORDER BY tenant_id, day DESC").fetchall()  # fmt: skip
        security = conn.execute("SELECT status, count(*) FROM serving.account_security GROUP BY status").fetchall()
    t = Table(title="Hiring: processes by status (serving.hiring_processes)")
    t.add_column("status")
    t.add_column("processes", justify="right")
    for status, n in hiring:
        t.add_row(status, str(n))
    console.print(t)
    t = Table(title="Hiring: companies (serving.interview_analytics)")
    for c in ("company", "processes", "offers", "ghosted", "response %", "days in applied"):
        t.add_column(c)
    for row in companies:
        t.add_row(*(str(x) for x in row))
    console.print(t)
    t = Table(title="User activity: latest day per tenant (serving.tenant_activity)")
    for c in ("tenant", "day", "DAU", "WAU", "MAU", "sessions", "avg session s"):
        t.add_column(c)
    for row in tenants:
        t.add_row(*(str(x) for x in row))
    console.print(t)
    console.print("accounts by login-security status: " + ", ".join(f"{s} {n}" for s, n in security))
