"""Independent oracle of the hiring and activity marts (plain Python over the raw events and the oracle's
process statuses), for comparison with the serving tables and the warehouse views."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.support.domains_oracle import Records
from tests.support.serving_oracle import percentile_inc

DAY_MS = 86_400_000
ACTIVE = ("applied", "screening", "interviewing", "final_round")


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def dimensions(records: Records) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Newest live image (by LSN) of every position and company."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for topic, _, row in records:
        table = topic.rsplit(".", 1)[-1]
        if table in ("job_positions", "companies"):
            img = row["after"] or row["before"]
            k = (table, str(img["id"]))
            if k not in newest or row["source"]["lsn"] > newest[k]["source"]["lsn"]:
                newest[k] = row
    positions = {k: r["after"] for (t, k), r in newest.items() if t == "job_positions" and r["op"] != "d"}
    companies = {k: r["after"] for (t, k), r in newest.items() if t == "companies" and r["op"] != "d"}
    return positions, companies


def _days(a: int | None, b: int | None) -> float | None:
    return None if a is None or b is None else (b - a) / DAY_MS


def _first(*xs: int | None) -> int | None:
    return next((x for x in xs if x is not None), None)


def hiring_processes(statuses: dict[str, dict[str, Any]], records: Records) -> dict[str, dict[str, Any]]:
    positions, companies = dimensions(records)
    out = {}
    for pid, r in statuses.items():
        if r["deleted"]:
            continue
        pos = positions.get(r["position_id"])
        company = companies.get(str(pos["company_id"])) if pos else None
        out[pid] = {
            "process_id": pid, "position_id": r["position_id"],
            "company_id": str(pos["company_id"]) if pos else None, "company_name": company["name"] if company else None,
            "position_title": pos["title"] if pos else None, "candidate_name": r["candidate_name"],
            "status": r["status"], "applied_at": r["applied_at"], "screening_at": r["screening_at"],
            "interviewing_at": r["interviewing_at"], "final_round_at": r["final_round_at"], "closed_at": r["closed_at"],
            "ghosted_at": r["ghosted_at"], "last_activity_at": r["last_activity_at"], "interviews": r["interviews"],
            "interviews_completed": r["interviews_completed"], "next_interview_at": r["next_interview_at"],
            "first_response_at": r["first_response_at"],
            "applied_days": _days(r["applied_at"], _first(r["screening_at"], r["interviewing_at"], r["final_round_at"],
                                                          r["closed_at"], r["ghosted_at"])),
            "screening_days": None if r["screening_at"] is None else _days(
                r["screening_at"], _first(r["interviewing_at"], r["final_round_at"], r["closed_at"], r["ghosted_at"])),
            "interviewing_days": None if r["interviewing_at"] is None else _days(
                r["interviewing_at"], _first(r["final_round_at"], r["closed_at"], r["ghosted_at"])),
            "final_round_days": None if r["final_round_at"] is None else _days(
                r["final_round_at"], _first(r["closed_at"], r["ghosted_at"])),
            "version": r["version"],
        }  # fmt: skip
    return out


def active_applications(procs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    active = {k: p for k, p in procs.items() if p["status"] in ACTIVE}
    by_position: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for k, p in active.items():
        by_position[p["position_id"]].append((p["applied_at"], k))
    first = {pos: min(items)[1] for pos, items in by_position.items()}
    out = {}
    for k, p in active.items():
        if p["next_interview_at"] is not None:
            action = "attend interview"
        elif p["status"] == "applied":
            action = "wait for screening"
        elif p["interviews_completed"] < p["interviews"]:
            action = "attend interview"
        else:
            action = "wait for feedback"
        stage_at = {"final_round": p["final_round_at"], "interviewing": p["interviewing_at"],
                    "screening": p["screening_at"]}.get(p["status"], p["applied_at"])  # fmt: skip
        out[k] = {"status": p["status"], "stage_entered_at": stage_at, "next_action": action,
                  "duplicate_active": first[p["position_id"]] != k}  # fmt: skip
    return out


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def interview_analytics(procs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in procs.values():
        groups[p["company_id"] or ""].append(p)
    out = {}
    for cid, ps in groups.items():
        n = len(ps)

        def stage(col: str, ps: list[dict[str, Any]] = ps) -> float | None:
            return _mean([p[col] for p in ps if p[col] is not None])

        out[cid] = {
            "processes": n, "active": sum(p["status"] in ACTIVE for p in ps),
            "offers": sum(p["status"] == "offer" for p in ps), "rejections": sum(p["status"] == "rejected" for p in ps),
            "withdrawals": sum(p["status"] == "withdrawn" for p in ps),
            "ghosted": sum(p["status"] == "ghosted" for p in ps),
            "response_rate": sum(p["first_response_at"] is not None for p in ps) * 100 / n,
            "ghosting_rate": sum(p["status"] == "ghosted" for p in ps) * 100 / n,
            "interviews_per_process": sum(p["interviews"] for p in ps) / n,
            "avg_applied_days": stage("applied_days"), "avg_screening_days": stage("screening_days"),
            "avg_interviewing_days": stage("interviewing_days"), "avg_final_round_days": stage("final_round_days"),
        }  # fmt: skip
    return out


def application_daily_stats(procs: dict[str, dict[str, Any]]) -> dict[tuple[date, str], tuple[int, ...]]:
    acc: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for p in procs.values():
        cid = p["company_id"] or ""
        acc[(_day(p["applied_at"]), cid)][0] += 1
        if p["closed_at"] is not None:
            col = {"offer": 1, "rejected": 2, "withdrawn": 3}[p["status"]]
            acc[(_day(p["closed_at"]), cid)][col] += 1
        if p["ghosted_at"] is not None:
            acc[(_day(p["ghosted_at"]), cid)][4] += 1
    return {k: tuple(v) for k, v in acc.items()}


def _unique(records: Records) -> list[tuple[str, dict[str, Any]]]:
    seen: set[str] = set()
    out = []
    for topic, _, row in records:
        if row["event_id"] not in seen:
            seen.add(row["event_id"])
            out.append((topic, row))
    return out


def sessions(records: Records, timeout_ms: int = 30 * 60_000) -> dict[str, dict[str, Any]]:
    acc: dict[str, dict[str, Any]] = {}
    for topic, row in _unique(records):
        if topic != "activity.session.event":
            continue
        t = row["event_time"]
        s = acc.setdefault(row["session_id"], {"tenant_id": row["tenant_id"], "user_id": row["user_id"], "start": t,
                                                "last": t, "end": None})  # fmt: skip
        s["start"], s["last"] = min(s["start"], t), max(s["last"], t)
        if row["kind"] == "end":
            s["end"] = t if s["end"] is None else min(s["end"], t)
    clock: dict[str, int] = defaultdict(int)
    for s in acc.values():
        clock[s["tenant_id"]] = max(clock[s["tenant_id"]], s["last"])
    for s in acc.values():
        if s["end"] is not None:
            s["status"] = "ended"
        elif clock[s["tenant_id"]] - s["last"] >= timeout_ms:
            s["status"] = "timed_out"
        else:
            s["status"] = "open"
        s["duration_s"] = ((s["end"] if s["end"] is not None else s["last"]) - s["start"]) / 1000
    return acc


def tenant_activity(records: Records) -> dict[tuple[str, date], dict[str, Any]]:
    users: dict[tuple[str, date], set[str]] = defaultdict(set)
    for topic, row in _unique(records):
        if topic == "activity.auth.attempt" and not row["success"]:
            continue
        if row.get("user_id") is None:
            continue
        users[(row["tenant_id"], _day(row["event_time"]))].add(row["user_id"])
    last = max(d for _, d in users)
    per_session = sessions(records)
    out = {}
    for tenant in {t for t, _ in users}:
        days = {d + timedelta(days=k) for (t, d) in users if t == tenant for k in range(30)}
        for d in sorted(x for x in days if x <= last):

            def span(n: int, tenant: str = tenant, d: date = d) -> int:
                return len(set().union(*(users.get((tenant, d - timedelta(days=k)), set()) for k in range(n))))

            started = [s for s in per_session.values() if s["tenant_id"] == tenant and _day(s["start"]) == d]
            closed = [s["duration_s"] for s in started if s["status"] != "open"]
            out[(tenant, d)] = {"dau": span(1), "wau": span(7), "mau": span(30), "sessions": len(started),
                                "avg_session_s": _mean(closed)}  # fmt: skip
    return out


def api_latency_hourly(records: Records) -> dict[tuple[str, datetime], dict[str, Any]]:
    calls: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for topic, row in _unique(records):
        if topic == "activity.api.call":
            t = datetime.fromtimestamp(row["event_time"] / 1000, UTC).replace(minute=0, second=0, microsecond=0)
            calls[(row["endpoint"], t)].append(row)
    out = {}
    for k, rows in calls.items():
        lat = [r["latency_ms"] for r in rows]
        n = len(rows)
        out[k] = {"calls": n, "p50_ms": percentile_inc(lat, 0.5), "p95_ms": percentile_inc(lat, 0.95),
                  "p99_ms": percentile_inc(lat, 0.99), "error_rate": sum(r["status_code"] >= 500 for r in rows) / n,
                  "client_error_rate": sum(400 <= r["status_code"] < 500 for r in rows) / n}  # fmt: skip
    return out


def feature_adoption(records: Records) -> dict[tuple[str, str], dict[str, Any]]:
    activity = tenant_activity(records)
    last = max(d for _, d in activity)
    used: dict[tuple[str, str], set[str]] = defaultdict(set)
    uses: dict[tuple[str, str], int] = defaultdict(int)
    for topic, row in _unique(records):
        if topic == "activity.feature.use" and last - timedelta(days=30) < _day(row["event_time"]) <= last:
            used[(row["tenant_id"], row["feature"])].add(row["user_id"])
            uses[(row["tenant_id"], row["feature"])] += 1
    out = {}
    for (tenant, feature), us in used.items():
        mau = activity[(tenant, last)]["mau"]
        out[(tenant, feature)] = {"users_30d": len(us), "uses_30d": uses[(tenant, feature)],
                                  "adoption_pct": len(us) * 100 / mau if mau else None}  # fmt: skip
    return out
