"""Independent oracle of the hiring status and the account security status, written from the definitions in
DESIGN.md (not from ``streams/transforms``): everything is recomputed from the complete list of input rows.

The event-time clock of a partition is the newest event time among the accepted facts of all keys that
Kafka's partitioner puts on that partition (``partition_for`` is the Java client's murmur2 partitioner).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from schemas.kafka import partition_for

STAGE = {"screening": 1, "technical": 2, "onsite": 2, "final": 3}
NAMES = ["applied", "screening", "interviewing", "final_round"]
Records = list[tuple[str, str, dict[str, Any]]]


def _ms(v: Any) -> int | None:
    if v is None:
        return None
    return int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000)


def _fact_time(table: str, row: dict[str, Any]) -> int:
    img = row["before"] if row["op"] == "d" else row["after"]
    t = _ms(img["decided_at"] if table == "outcomes" else img["updated_at"])
    assert t is not None
    return max(t, row["source"]["ts_ms"]) if row["op"] == "d" else t


def hiring(records: list[tuple[str, str, dict[str, Any]]], partitions: int, ghost_ms: int) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[tuple[str, str, int], dict[str, Any]]] = defaultdict(dict)  # process -> distinct facts
    for topic, key, row in records:
        table = topic.rsplit(".", 1)[-1]
        if table not in ("processes", "interviews", "outcomes"):
            continue
        img = row["before"] if row["op"] == "d" else row["after"]
        facts[key][(table, str(img["id"]), row["source"]["lsn"])] = row
    clock: dict[int, int] = defaultdict(int)
    for key, fs in facts.items():
        p = partition_for(key.encode(), partitions)
        for (table, _, _), row in fs.items():
            clock[p] = max(clock[p], _fact_time(table, row))
    result = {}
    for key, fs in facts.items():
        newest: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        for (table, rid, lsn), row in fs.items():
            if (table, rid) not in newest or lsn > newest[(table, rid)][0]:
                newest[(table, rid)] = (lsn, row)
        procs = [r for (t, _), (_, r) in newest.items() if t == "processes"]
        if not procs:
            continue
        prow = procs[0]
        proc = prow["before"] if prow["op"] == "d" else prow["after"]
        now = clock[partition_for(key.encode(), partitions)]
        ivs = [r["after"] for (t, _), (_, r) in newest.items() if t == "interviews" and r["op"] != "d"]
        live = [iv for iv in ivs if iv["status"] != "cancelled"]
        ocs = [r["after"] for (t, _), (_, r) in newest.items() if t == "outcomes" and r["op"] != "d"]
        activity = [_ms(proc["applied_at"]), _ms(proc["updated_at"])]
        for iv in ivs:
            activity += [_ms(iv[c]) for c in ("created_at", "updated_at", "completed_at") if iv[c] is not None]
        activity += [_ms(iv["scheduled_at"]) for iv in live]
        activity += [_ms(o["decided_at"]) for o in ocs]
        last = max(a for a in activity if a is not None)
        first_at: dict[int, int] = {}
        for iv in live:
            lvl, at = STAGE[iv["stage"]], _ms(iv["created_at"])
            assert at is not None
            first_at[lvl] = min(first_at.get(lvl, at), at)
        sched = [_ms(iv["scheduled_at"]) or 0 for iv in live if iv["status"] == "scheduled"]
        passed = sum(1 for s in sched if s <= now)
        ghosted, closed = False, None
        if ocs:
            final = sorted(ocs, key=lambda o: (_ms(o["decided_at"]), newest[("outcomes", str(o["id"]))][0]))[-1]
            status, closed = final["outcome"], _ms(final["decided_at"])
        elif proc["status"] in ("offer", "rejected", "withdrawn"):
            status, closed = proc["status"], _ms(proc["updated_at"])
        elif now - last >= ghost_ms:
            status, ghosted = "ghosted", True
        else:
            status = NAMES[max(first_at) if first_at else 0]
        upcoming = [s for s in sched if s > now]
        responses = list(first_at.values()) + [_ms(o["decided_at"]) or 0 for o in ocs if o["outcome"] != "withdrawn"]
        result[key] = {
            "process_id": key, "position_id": str(proc["position_id"]),
            "version": len(fs) * 65536 + passed * 2 + (1 if ghosted else 0),
            "status": status, "candidate_name": proc["candidate_name"], "applied_at": _ms(proc["applied_at"]),
            "screening_at": first_at.get(1), "interviewing_at": first_at.get(2), "final_round_at": first_at.get(3),
            "closed_at": closed, "ghosted_at": last + ghost_ms if ghosted else None, "last_activity_at": last,
            "interviews": len(live),
            "interviews_completed": sum(1 for iv in live if iv["status"] == "completed") + passed,
            "next_interview_at": min(upcoming) if upcoming and closed is None else None,
            "first_response_at": min(responses) if responses else None,
            "deleted": prow["op"] == "d",
        }  # fmt: skip
    return result


def accepted_logins(
    records: list[tuple[str, str, dict[str, Any]]], lateness_ms: int
) -> dict[str, list[dict[str, Any]]]:
    """Per account, the attempts the pipeline keeps: first copy of each event id, not older than the account's
    newest attempt so far minus the allowed lateness (arrival order)."""
    seen: set[str] = set()
    newest: dict[str, int] = {}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, user, row in records:
        if row["event_id"] in seen:
            continue
        if row["event_time"] < newest.get(user, 0) - lateness_ms:
            continue
        seen.add(row["event_id"])
        newest[user] = max(newest.get(user, 0), row["event_time"])
        out[user].append(row)
    return out


def security(records: list[tuple[str, str, dict[str, Any]]], partitions: int, lateness_ms: int, threshold: int,
             window_ms: int, quiet_ms: int) -> dict[str, dict[str, Any]]:  # fmt: skip
    kept = accepted_logins(records, lateness_ms)
    clock: dict[int, int] = defaultdict(int)
    for user, rows in kept.items():
        p = partition_for(user.encode(), partitions)
        clock[p] = max(clock[p], max(r["event_time"] for r in rows))
    result = {}
    for user, rows in kept.items():
        rows = sorted(rows, key=lambda r: (r["event_time"], r["event_id"]))
        now = clock[partition_for(user.encode(), partitions)]
        suspicious, since, failed, flagged = False, None, 0, 0
        quiet_from: int | None = None
        fails: list[int] = []
        last_fail = last_ok = None
        cleared_by_clock = False
        for r in [*rows, None]:
            t = r["event_time"] if r is not None else now
            if suspicious and quiet_from is not None and t >= quiet_from + quiet_ms:
                suspicious, since, failed, fails, quiet_from = False, quiet_from + quiet_ms, 0, [], None
                cleared_by_clock = r is None
            if r is None:
                break
            if r["success"]:
                last_ok = t
                if suspicious:
                    quiet_from = t
                continue
            last_fail = t
            fails = [f for f in fails if t - f < window_ms] + [t]
            if suspicious:
                quiet_from = None
            elif len(fails) >= threshold:
                suspicious, since, failed, flagged = True, t, len(fails), flagged + 1
        result[user] = {
            "user_id": user, "tenant_id": rows[-1]["tenant_id"], "version": len(rows) * 2 + int(cleared_by_clock),
            "status": "suspicious" if suspicious else "active", "since": since, "failed_logins": failed,
            "times_flagged": flagged, "last_failure_at": last_fail, "last_success_at": last_ok,
        }  # fmt: skip
    return result


def expected(hiring_records: Records, login_records: Records, settings: Any,
             lateness_ms: int) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:  # fmt: skip
    """(process statuses, account statuses) under the rules' settings (a ``StreamsSettings``)."""
    s = settings
    statuses = hiring(hiring_records, s.partitions, int(s.hiring_ghost_after_days * 86_400_000))
    accounts = security(login_records, s.partitions, lateness_ms, s.login_fail_threshold,
                        int(s.login_fail_window_s * 1000), int(s.login_quiet_s * 1000))  # fmt: skip
    return statuses, accounts
