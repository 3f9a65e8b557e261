"""Deterministic workloads of the hiring and activity domains, as the rows that reach Kafka.

Hiring: Debezium change events of companies, job_positions, processes, interviews and outcomes (commit order,
one LSN sequence, some re-delivered after a "connector restart"); processes that progress, end, go silent
(ghosted) and come back. Activity: login attempts with failure bursts, successes and quiet periods, delivered
out of order, duplicated, and some later than the allowed lateness; plus session, feature and API events.
Each record is ``(topic, key, row)`` in produce order.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.workload import DAY, HOUR, _iso

MIN = 60_000


@dataclass
class DomainWorkload:
    end_ms: int
    lateness_ms: int
    hiring: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    logins: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    activity: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def _cdc(table: str, op: str, before: Any, after: Any, lsn: int, t: int) -> dict[str, Any]:
    return {"before": before, "after": after, "op": op, "ts_ms": t,
            "source": {"lsn": lsn, "ts_ms": t, "table": table, "schema": "public"}}  # fmt: skip


def generate_hiring(rng: random.Random, end_ms: int, processes: int, w: DomainWorkload, shared_positions: bool) -> None:
    """``shared_positions``: processes pick any position (duplicates galore); otherwise each process has its own
    position, except a comeback's replacement (PostgreSQL allows one active process per position)."""
    changes: list[tuple[int, str, str, str, Any, Any]] = []  # (commit time, topic table, key, op, before, after)
    start = end_ms - 120 * DAY
    companies = [(i + 1, f"Company {i + 1}") for i in range(max(3, processes // 30))]
    positions = []
    for c_id, name in companies:
        changes.append(
            (start, "companies", str(c_id), "c", None, {"id": c_id, "name": name, "created_at": _iso(start)})
        )
    for p in range(max(5, processes // 6) if shared_positions else processes):
        pid, cid = p + 1, rng.choice(companies)[0]
        row = {"id": pid, "company_id": cid, "title": f"Engineer {pid}",
               "location": rng.choice([None, "Remote", "Berlin"]), "status": "open",
               "created_at": _iso(start), "updated_at": _iso(start)}  # fmt: skip
        changes.append((start, "job_positions", str(pid), "c", None, row))
        positions.append(pid)
        if rng.random() < 0.2:
            t = start + rng.randint(DAY, 60 * DAY)
            changes.append((t, "job_positions", str(pid), "u", row, {**row, "status": "closed", "updated_at": _iso(t)}))
    iv_id = 0
    oc_id = 0
    extra = 0
    for n in range(processes):
        proc_id = 1000 + n
        applied = start + rng.randint(0, 110 * DAY)
        position = rng.choice(positions) if shared_positions else positions[n]
        proc = {"id": proc_id, "position_id": position, "candidate_name": f"Candidate {n}",
                "candidate_email": None, "status": "applied", "applied_at": _iso(applied),
                "updated_at": _iso(applied)}  # fmt: skip
        changes.append((applied, "processes", str(proc_id), "c", None, proc))
        t = applied
        kind = rng.random()
        stages = rng.choice([["screening"], ["screening", "technical"], ["screening", "onsite", "final"],
                             ["technical", "final"], []])  # fmt: skip
        for stage in stages:
            t += rng.randint(1, 30) * DAY if rng.random() < 0.25 else rng.randint(HOUR, 6 * DAY)
            if t >= end_ms - HOUR:
                break
            iv_id += 1
            sched = t + rng.randint(HOUR, 10 * DAY)
            iv = {"id": iv_id, "process_id": proc_id, "stage": stage, "scheduled_at": _iso(sched),
                  "status": "scheduled", "completed_at": None, "created_at": _iso(t),
                  "updated_at": _iso(t)}  # fmt: skip
            changes.append((t, "interviews", str(proc_id), "c", None, iv))
            r = rng.random()
            if sched < end_ms and r < 0.55:  # completed on time (the rest stay "scheduled": the clock completes them)
                done = {
                    **iv,
                    "status": "completed",
                    "completed_at": _iso(sched + HOUR),
                    "updated_at": _iso(sched + HOUR),
                }
                changes.append((sched + HOUR, "interviews", str(proc_id), "u", iv, done))
                t = sched + HOUR
            elif r < 0.65:  # cancelled, sometimes deleted later
                tc = min(t + rng.randint(MIN, DAY), end_ms - 1)
                cancelled = {**iv, "status": "cancelled", "updated_at": _iso(tc)}
                changes.append((tc, "interviews", str(proc_id), "u", iv, cancelled))
                if rng.random() < 0.3:
                    changes.append((tc + MIN, "interviews", str(proc_id), "d", cancelled, None))
        if kind < 0.45:  # decided
            t_dec = min(t + rng.randint(HOUR, 20 * DAY), end_ms - 1)
            oc_id += 1
            outcome = rng.choice(["offer", "rejected", "rejected", "withdrawn"])
            oc = {"id": oc_id, "process_id": proc_id, "outcome": outcome, "decided_at": _iso(t_dec), "notes": None}
            changes.append((t_dec, "outcomes", str(proc_id), "c", None, oc))
        elif kind < 0.55:  # the candidate withdraws through the process row itself
            t_w = min(t + rng.randint(HOUR, 10 * DAY), end_ms - 1)
            changes.append(
                (t_w, "processes", str(proc_id), "u", proc, {**proc, "status": "withdrawn", "updated_at": _iso(t_w)})
            )
        elif kind < 0.65:  # silent for weeks: the app marks it ghosted and a new process takes the position; then
            # the first candidate comes back (two active processes for one position, seen by the stream)
            t_mark, t_back = t + 21 * DAY + HOUR, t + rng.randint(23, 40) * DAY
            if t_back < end_ms:
                changes.append((t_mark, "processes", str(proc_id), "u", proc,
                                {**proc, "status": "ghosted", "updated_at": _iso(t_mark)}))  # fmt: skip
                extra += 1
                other = {**proc, "id": 100_000 + extra, "candidate_name": f"Candidate {n}b", "status": "applied",
                         "applied_at": _iso(t_mark + HOUR), "updated_at": _iso(t_mark + HOUR)}  # fmt: skip
                changes.append((t_mark + HOUR, "processes", str(other["id"]), "c", None, other))
                iv_id += 1
                iv = {"id": iv_id, "process_id": proc_id, "stage": "technical", "scheduled_at": _iso(t_back + DAY),
                      "status": "scheduled", "completed_at": None, "created_at": _iso(t_back),
                      "updated_at": _iso(t_back)}  # fmt: skip
                changes.append((t_back, "interviews", str(proc_id), "c", None, iv))
    changes.sort(key=lambda c: c[0])
    lsn = 50_000_000
    out: list[tuple[str, str, dict[str, Any]]] = []
    for t, table, key, op, before, after in changes:
        lsn += rng.randint(1, 500)
        row = _cdc(table, op, before, after, lsn, t)
        out.append((f"cdc.public.{table}", key, row))
    # a connector restart re-delivers a stretch of changes
    for lo in sorted(rng.sample(range(len(out)), 3)):
        out[lo + 40 : lo + 40] = [(tp, k, dict(r)) for tp, k, r in out[lo : lo + 40]]
    w.hiring = out


def _env(rng: random.Random, t: int, source: str = "workload") -> dict[str, Any]:
    return {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "event_time": t, "ingested_at": None,
            "source": source, "schema_version": 1}  # fmt: skip


def generate_logins(rng: random.Random, end_ms: int, users: int, lateness_ms: int, w: DomainWorkload) -> None:
    events: list[tuple[int, str, dict[str, Any]]] = []  # (arrival, key, row)
    start = end_ms - 3 * DAY
    for u in range(users):
        user, tenant = f"u{u}", f"t{u % 5}"
        t = start + rng.randint(0, DAY)
        while t < end_ms - HOUR:
            r = rng.random()
            burst = rng.randint(3, 8) if r < 0.35 else rng.randint(0, 2)
            for _ in range(burst):
                t += rng.randint(5_000, 4 * MIN)
                row = {**_env(rng, t), "tenant_id": tenant, "user_id": user, "success": False, "ip": "10.0.0.1",
                       "user_agent": None, "failure_reason": "bad_password"}  # fmt: skip
                events.append((t, user, row))
            if rng.random() < 0.7:
                t += rng.randint(MIN, 20 * MIN)
                row = {**_env(rng, t), "tenant_id": tenant, "user_id": user, "success": True, "ip": "10.0.0.1",
                       "user_agent": None, "failure_reason": None}  # fmt: skip
                events.append((t, user, row))
            t += rng.choice([rng.randint(MIN, 25 * MIN), rng.randint(31 * MIN, 6 * HOUR)])
    arrivals: list[tuple[int, str, dict[str, Any]]] = []
    for t, user, row in events:
        r = rng.random()
        if r < 0.02:
            delay = lateness_ms + rng.randint(HOUR, 5 * HOUR)  # beyond the allowed lateness: dropped
        elif r < 0.15:
            delay = rng.randint(MIN, 30 * MIN)  # out of order, within the lateness
        else:
            delay = rng.randint(0, 2_000)
        arrivals.append((t + delay, user, row))
        if rng.random() < 0.04:
            arrivals.append((t + delay + rng.randint(1, 10 * MIN), user, dict(row)))  # re-delivered
    arrivals.sort(key=lambda a: a[0])
    w.logins = [("activity.auth.attempt", user, row) for _, user, row in arrivals]


def generate_activity(rng: random.Random, end_ms: int, users: int, w: DomainWorkload) -> None:
    """Sessions (start, heartbeats, usually an end), feature uses and API calls over the last 35 days."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    endpoints = ["/v1/profiles/{id}", "/v1/posts", "/v1/leaderboard", "/v1/login"]
    features = ["export", "alerts", "compare", "search"]
    for u in range(users):
        user, tenant = f"u{u}", f"t{u % 5}"
        for d in range(rng.randint(1, 12)):
            t = end_ms - rng.randint(0, 34) * DAY - rng.randint(HOUR, 20 * HOUR)
            sid = f"s-{u}-{d}"
            out.append(
                (
                    "activity.session.event",
                    sid,
                    {**_env(rng, t), "session_id": sid, "tenant_id": tenant, "user_id": user, "kind": "start"},
                )
            )
            for _ in range(rng.randint(0, 6)):
                t += rng.randint(MIN, 5 * MIN)
                out.append(
                    (
                        "activity.session.event",
                        sid,
                        {**_env(rng, t), "session_id": sid, "tenant_id": tenant, "user_id": user, "kind": "heartbeat"},
                    )
                )
                if rng.random() < 0.5:
                    out.append(("activity.feature.use", user, {**_env(rng, t), "tenant_id": tenant, "user_id": user,
                                "feature": rng.choice(features), "action": None}))  # fmt: skip
                ep = rng.choice(endpoints)
                status = rng.choice([200] * 17 + [404, 500, 503])
                out.append(("activity.api.call", ep, {**_env(rng, t), "tenant_id": tenant, "user_id": user,
                            "endpoint": ep, "method": "GET", "status_code": status,
                            "latency_ms": round(rng.lognormvariate(3.5, 0.6), 3)}))  # fmt: skip
            if rng.random() < 0.8:
                t += rng.randint(10_000, 3 * MIN)
                out.append(
                    (
                        "activity.session.event",
                        sid,
                        {**_env(rng, t), "session_id": sid, "tenant_id": tenant, "user_id": user, "kind": "end"},
                    )
                )
    rng.shuffle(out)  # any order: the warehouse aggregates are order-free
    dups = [out[i] for i in rng.sample(range(len(out)), len(out) // 25)]
    w.activity = out + dups


def generate(*, seed: int = 11, processes: int = 300, users: int = 150, end_ms: int = 1_790_000_000_000,
             lateness_ms: int = 2 * HOUR, shared_positions: bool = True) -> DomainWorkload:  # fmt: skip
    rng = random.Random(seed)
    w = DomainWorkload(end_ms, lateness_ms)
    generate_hiring(rng, end_ms, processes, w, shared_positions)
    generate_logins(rng, end_ms, users, lateness_ms, w)
    generate_activity(rng, end_ms, users, w)
    return w
