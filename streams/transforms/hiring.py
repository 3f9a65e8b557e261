"""Hiring: the status of an application process, from the CDC of ``processes``, ``interviews`` and ``outcomes``
(all three keyed by the process id, so one agent holds a process's whole story), and an event-time clock.

A process's state is the newest image (by LSN) of its row, of each of its interviews and of each outcome, plus
the count of change events applied. The status row is a pure function of that state and of ``now``, the event
time clock of the process's partition (see ``streams/transforms/event_clock.py``), never the wall clock, so a
replay of the raw topics gives the same rows:

- an outcome (the latest by decision time) ends the process: ``offer``, ``rejected`` or ``withdrawn``; a process
  row whose own status is one of those ends it too (at its ``updated_at``);
- otherwise the stage is the highest one an interview that is not cancelled was scheduled for: ``screening``
  (screening), ``interviewing`` (technical, onsite), ``final_round`` (final); none: ``applied``;
- a scheduled interview whose time is at or before ``now`` counts as completed;
- a process that has not ended and shows no activity (its rows' times, and the times of its interviews that are
  not cancelled) for ``ghost_after_ms`` up to ``now`` is ``ghosted``; new activity brings it back.

The row's version is ``facts << 16 | interviews passed by time << 1 | ghosted``: new facts always raise it, and
for the same facts the clock only moves the two low parts up, so the newest version is the newest truth.
The dimension rows (positions, companies) are in ``streams/transforms/hiring_dims.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from streams.transforms.cdc import label, ms, past_ms

TERMINAL = ("offer", "rejected", "withdrawn")
ACTIVE = ("applied", "screening", "interviewing", "final_round")
STAGE_LEVEL = {"screening": 1, "technical": 2, "onsite": 2, "final": 3}
LEVEL_STATUS = {0: "applied", 1: "screening", 2: "interviewing", 3: "final_round"}


class ProcessImage(TypedDict):
    position_id: str
    candidate: str
    status: str
    applied_at: int
    updated_at: int
    lsn: int
    deleted: bool


class InterviewImage(TypedDict):
    stage: str
    scheduled_at: int
    status: str
    completed_at: int | None
    created_at: int | None
    updated_at: int | None
    lsn: int
    deleted: bool


class OutcomeImage(TypedDict):
    outcome: str
    decided_at: int
    lsn: int
    deleted: bool


@dataclass(slots=True)
class HiringState:
    process: ProcessImage | None = None
    interviews: dict[str, InterviewImage] = field(default_factory=dict)  # by interview id
    outcomes: dict[str, OutcomeImage] = field(default_factory=dict)  # by outcome id
    changes: int = 0  # change events applied
    latest_event_time: int = 0  # the newest change's event time (the partition clock follows it)

    def copy(self) -> HiringState:
        return HiringState(self.process, dict(self.interviews), dict(self.outcomes), self.changes,
                           self.latest_event_time)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"proc": self.process, "iv": self.interviews, "oc": self.outcomes, "n": self.changes,
                "t": self.latest_event_time}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HiringState:
        return cls(d["proc"], dict(d["iv"]), dict(d["oc"]), d["n"], d["t"])


@dataclass
class Outcome:
    changed: bool = False
    duplicates: int = 0


def process_key(row: dict[str, Any]) -> str:
    """The process id a CDC row belongs to (``processes``: its id; interviews and outcomes: process_id)."""
    image = row.get("after") or row.get("before") or {}
    table = row["source"]["table"]
    return str(image["id"] if table == "processes" else image["process_id"])


def _image(row: dict[str, Any], table: str) -> tuple[str, int, Any, int]:
    """(row id, lsn, the newest image's fields we keep, the change's event time)."""
    deleted = row.get("op") == "d"
    image = row.get("before") if deleted else row.get("after")
    if image is None:
        raise ValueError(f"{table} change without an image")
    lsn = int(row["source"]["lsn"])
    commit = int(row["source"].get("ts_ms") or row.get("ts_ms") or 0)
    kept: dict[str, Any]
    if table == "processes":
        kept = {"position_id": str(image["position_id"]), "candidate": label(image, "candidate_name") or "",
                "status": image.get("status") or "applied", "applied_at": past_ms(image["applied_at"], row),
                "updated_at": past_ms(image.get("updated_at"), row) or past_ms(image["applied_at"], row)}  # fmt: skip
        t = kept["updated_at"]
    elif table == "interviews":
        kept = {"stage": image["stage"], "scheduled_at": ms(image["scheduled_at"]),
                "status": image.get("status") or "scheduled",
                "completed_at": past_ms(image.get("completed_at"), row),
                "created_at": past_ms(image.get("created_at"), row),
                "updated_at": past_ms(image.get("updated_at"), row)}  # fmt: skip
        t = kept["updated_at"] or kept["created_at"] or commit
    elif table == "outcomes":
        if image["outcome"] not in TERMINAL:  # it becomes the process's status: only the contract's endings
            raise ValueError(f"outcome {str(image['outcome'])[:40]!r} is not one of {', '.join(TERMINAL)}")
        kept = {"outcome": image["outcome"], "decided_at": past_ms(image["decided_at"], row)}
        t = kept["decided_at"]
    else:
        raise ValueError(f"not a hiring table: {table}")
    if deleted:
        t = max(t or 0, commit)
    kept["lsn"] = lsn
    kept["deleted"] = deleted
    return str(image["id"]), lsn, kept, int(t or 0)


def apply_cdc(state: HiringState, rows: list[dict[str, Any]], out: Outcome) -> None:
    """Each change replaces its row's image when its LSN is newer; an LSN seen already is a re-delivery."""
    for row in rows:
        table = row["source"]["table"]
        rid, lsn, kept, t = _image(row, table)
        group: dict[str, Any] | None = (
            None if table == "processes" else state.interviews if table == "interviews" else state.outcomes
        )
        cur = state.process if group is None else group.get(rid)
        if cur is not None and lsn <= cur["lsn"]:
            out.duplicates += 1
            continue
        if group is None:
            state.process = kept
        else:
            group[rid] = kept
        state.changes += 1
        state.latest_event_time = max(state.latest_event_time, t)
        out.changed = True


def _live_interviews(state: HiringState) -> list[InterviewImage]:
    return [iv for iv in state.interviews.values() if not iv["deleted"] and iv["status"] != "cancelled"]


def _ending(proc: ProcessImage, state: HiringState) -> tuple[str, int] | None:
    outcomes = [o for o in state.outcomes.values() if not o["deleted"]]
    if outcomes:
        last = max(outcomes, key=lambda o: (o["decided_at"], o["lsn"]))
        return last["outcome"], last["decided_at"]
    if proc["status"] in TERMINAL:
        return proc["status"], proc["updated_at"]
    return None


def last_activity(proc: ProcessImage, state: HiringState) -> int:
    times = [proc["applied_at"], proc["updated_at"]]
    for iv in state.interviews.values():
        if iv["deleted"]:
            continue
        times += [t for t in (iv["created_at"], iv["updated_at"], iv["completed_at"]) if t is not None]
        if iv["status"] != "cancelled":
            times.append(iv["scheduled_at"])
    times += [o["decided_at"] for o in state.outcomes.values() if not o["deleted"]]
    return max(times)


def status_row(process_id: str, state: HiringState, now: int, ghost_after_ms: int) -> dict[str, Any] | None:
    """The process's status as of the event-time clock ``now``; None until its own row has been seen."""
    proc = state.process
    if proc is None:
        return None
    live = _live_interviews(state)
    entered: dict[int, int] = {}
    for iv in live:
        level = STAGE_LEVEL.get(iv["stage"], 2)
        at = iv["created_at"] if iv["created_at"] is not None else iv["scheduled_at"]
        entered[level] = min(entered.get(level, at), at)
    passed = sum(1 for iv in live if iv["status"] == "scheduled" and iv["scheduled_at"] <= now)
    completed = sum(1 for iv in live if iv["status"] == "completed") + passed
    upcoming = [iv["scheduled_at"] for iv in live if iv["status"] == "scheduled" and iv["scheduled_at"] > now]
    ending = _ending(proc, state)
    activity = last_activity(proc, state)
    ghosted = False
    closed_at = None
    if ending is not None:
        status, closed_at = ending
    elif activity + ghost_after_ms <= now:
        status, ghosted = "ghosted", True
    else:
        status = LEVEL_STATUS[max(entered, default=0)]
    responses = list(entered.values())
    responses += [o["decided_at"] for o in state.outcomes.values() if not o["deleted"] and o["outcome"] != "withdrawn"]
    return {
        "process_id": process_id,
        "position_id": proc["position_id"],
        "version": (state.changes << 16) | (min(passed, 32767) << 1) | int(ghosted),
        "status": status,
        "candidate_name": proc["candidate"],
        "applied_at": proc["applied_at"],
        "screening_at": entered.get(1),
        "interviewing_at": entered.get(2),
        "final_round_at": entered.get(3),
        "closed_at": closed_at,
        "ghosted_at": activity + ghost_after_ms if ghosted else None,
        "last_activity_at": activity,
        "interviews": len(live),
        "interviews_completed": completed,
        "next_interview_at": min(upcoming) if upcoming and ending is None else None,
        "first_response_at": min(responses) if responses else None,
        "deleted": proc["deleted"],
    }


def next_change(state: HiringState, now: int, ghost_after_ms: int) -> int | None:
    """The earliest clock value after ``now`` at which ``status_row`` changes without new facts (an interview's
    time passes, or the process becomes ghosted); None when only new facts can change it."""
    proc = state.process
    if proc is None:
        return None
    live = _live_interviews(state)
    due = [iv["scheduled_at"] for iv in live if iv["status"] == "scheduled" and iv["scheduled_at"] > now]
    if _ending(proc, state) is None:
        ghost_at = last_activity(proc, state) + ghost_after_ms
        if ghost_at > now:
            due.append(ghost_at)
    return min(due) if due else None
