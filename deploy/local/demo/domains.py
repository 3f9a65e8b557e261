"""The demo's hiring and user-activity workloads.

Hiring: companies, one position per application, processes that move through interviews to an outcome, some
that go silent (ghosted after 21 days of event time), written to PostgreSQL (Debezium streams them). User activity:
tenants' sessions, feature uses, API calls and logins (with failure bursts) posted to the ingest API.
"""

from __future__ import annotations

import random
import time
from typing import Any

import psycopg
from rich.console import Console

from deploy.local.demo.common import DAY, HOUR, MIN, DemoSize, dt, next_id, progress

STAGES = [["screening"], ["screening", "technical"], ["screening", "onsite", "final"], ["technical", "final"]]
TENANTS = ["acme", "globex", "initech", "umbrella"]
ENDPOINTS = ["/v1/profiles/{id}", "/v1/posts", "/v1/leaderboard", "/v1/collections/{id}"]

INSERT_COMPANY = "INSERT INTO companies (id, name) VALUES (%s, %s)"
INSERT_POSITION = "INSERT INTO job_positions (id, company_id, title, location) VALUES (%s, %s, %s, %s)"
INSERT_PROCESS = (
    "INSERT INTO processes (id, position_id, candidate_name, applied_at, updated_at) VALUES (%s, %s, %s, %s, %s)"
)
INSERT_INTERVIEW = (
    "INSERT INTO interviews (process_id, stage, scheduled_at, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)
COMPLETE_INTERVIEW = "UPDATE interviews SET status = 'completed', completed_at = %s, updated_at = %s WHERE id = %s"
INSERT_OUTCOME = "INSERT INTO outcomes (process_id, outcome, decided_at) VALUES (%s, %s, %s)"
DECIDE_PROCESS = "UPDATE processes SET status = %s, updated_at = %s WHERE id = %s"


def play_domains(dsn: str, ingest_url: str, token: str, size: DemoSize, console: Console) -> dict[str, int]:
    """The hiring (PostgreSQL) and user-activity (ingest API) workloads."""
    from connectors.ingest_client import IngestClient

    rng = random.Random(size.seed + 1 + int(time.time()))
    with progress(console) as bar:
        task = bar.add_task("hiring: PostgreSQL rows", total=1)
        hiring_rows = play_hiring(dsn, rng)
        bar.advance(task)
        task = bar.add_task("user activity: ingest API events", total=1)
        with IngestClient(ingest_url, token, source="demo", batch_size=1000) as client:
            play_activity(client, rng)
        bar.advance(task)
    return {"hiring_rows": hiring_rows, "activity_events": client.stats.accepted}


def play_hiring(dsn: str, rng: random.Random, processes: int = 150) -> int:
    """Returns the number of rows written (each one a CDC event)."""
    now = int(time.time() * 1000)
    rows = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        cid0, pos0, proc0 = next_id(conn, "companies"), next_id(conn, "job_positions"), next_id(conn, "processes")
        companies = list(range(cid0, cid0 + 8))
        for c in companies:
            conn.execute(INSERT_COMPANY, (c, f"Company {c}"))
            rows += 1
        for n in range(processes):
            rows += _play_process(conn, rng, pos0 + n, proc0 + n, companies, now)
    return rows


def _play_process(conn: psycopg.Connection[Any], rng: random.Random, pos: int, proc: int, companies: list[int],
                  now: int) -> int:  # fmt: skip
    """One application: its position, the process, its interviews and maybe an outcome; returns rows written."""
    applied = now - rng.randint(1, 90) * DAY - rng.randint(0, DAY)
    company, title = rng.choice(companies), rng.choice(["Data Engineer", "Designer", "PM", "SRE"])
    conn.execute(INSERT_POSITION, (pos, company, title, rng.choice(["Remote", "Berlin", "Lisbon"])))
    conn.execute(INSERT_PROCESS, (proc, pos, f"Candidate {proc}", dt(applied), dt(applied)))
    rows = 2
    t = applied
    silent = rng.random() < 0.15
    for stage in [] if silent else rng.choice(STAGES):
        t += rng.randint(HOUR, 8 * DAY)
        if t > now - HOUR:
            break
        sched = t + rng.randint(HOUR, 7 * DAY)
        iv = conn.execute(INSERT_INTERVIEW, (proc, stage, dt(sched), dt(t), dt(t))).fetchone()
        rows += 1
        if sched < now and rng.random() < 0.7 and iv is not None:
            conn.execute(COMPLETE_INTERVIEW, (dt(sched + HOUR), dt(sched + HOUR), iv[0]))
            rows += 1
            t = sched + HOUR
    if not silent and rng.random() < 0.75 and t < now - HOUR:
        decided = min(t + rng.randint(HOUR, 10 * DAY), now - MIN)
        outcome = rng.choice(["offer", "rejected", "rejected", "withdrawn"])
        conn.execute(INSERT_OUTCOME, (proc, outcome, dt(decided)))
        conn.execute(DECIDE_PROCESS, (outcome, dt(decided), proc))
        rows += 2
    return rows


def play_activity(client: Any, rng: random.Random, users: int = 80) -> None:
    """Sessions, feature uses, API calls and logins of ``users`` accounts of four tenants over 30 days."""
    now = int(time.time() * 1000)
    for u in range(users):
        user, tenant = f"demo-user-{u}", TENANTS[u % len(TENANTS)]
        for d in range(rng.randint(2, 20)):
            _play_session(client, rng, tenant, user, f"demo-{u}-{d}-{now}", now)
        if rng.random() < 0.1:  # a password-guessing burst in the last hour
            t = now - rng.randint(10 * MIN, HOUR)
            for _ in range(rng.randint(5, 9)):
                t += rng.randint(5_000, 60_000)
                client.send("activity.auth.attempt", {"event_time": t, "tenant_id": tenant, "user_id": user,
                                                      "success": False, "ip": "203.0.113.7", "user_agent": None,
                                                      "failure_reason": "bad_password"})  # fmt: skip


def _play_session(client: Any, rng: random.Random, tenant: str, user: str, sid: str, now: int) -> None:
    """A login, then a session of heartbeats, feature uses and API calls that usually ends."""
    t = now - rng.randint(0, 29) * DAY - rng.randint(HOUR, 12 * HOUR)
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
                                          "endpoint": rng.choice(ENDPOINTS), "method": "GET",
                                          "status_code": status,
                                          "latency_ms": round(rng.lognormvariate(3.4, 0.5), 2)})  # fmt: skip
    if rng.random() < 0.85:
        client.send("activity.session.event", {"event_time": t + MIN, "session_id": sid, "tenant_id": tenant,
                                               "user_id": user, "kind": "end"})  # fmt: skip
