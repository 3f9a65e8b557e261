"""The hiring agent's edge: a CDC outcome the status contract does not know goes to the dead letters with its
reason, not into a status row that breaks the contract (found by the property test: ``hired``)."""

from __future__ import annotations

import json

from schemas.models import HiringProcessStatus
from streams.agents import STREAM_AGENTS
from streams.runtime import run_isolated
from streams.settings import StreamsSettings

NOW = 1_779_700_000_000


def _cdc(table: str, after: dict, lsn: int) -> bytes:
    source = {"lsn": lsn, "ts_ms": NOW - 1000, "table": table, "schema": "public"}
    return json.dumps({"op": "c", "before": None, "after": after, "ts_ms": NOW - 1000, "source": source}).encode()


def _run(outcome: str) -> tuple[list[bytes], list[str]]:
    settings = StreamsSettings()
    agent = next(a for a in STREAM_AGENTS if a.name == "hiring")
    handler = agent.handler(settings)
    states: dict = {}
    lines, reasons = [], []
    process = {"id": 7, "position_id": 3, "candidate_name": "c", "status": "interviewing",
               "applied_at": NOW - 10 * 86_400_000, "updated_at": NOW - 9 * 86_400_000}  # fmt: skip
    decided = {"id": 1, "process_id": 7, "outcome": outcome, "decided_at": NOW - 86_400_000}
    for table, after, lsn in (("processes", process, 10), ("outcomes", decided, 11)):
        res = run_isolated(handler, "cdc.public.processes" if table == "processes" else "cdc.public.outcomes",
                           _cdc(table, after, lsn), states.get, settings, NOW, "hiring")  # fmt: skip
        states.update(res.states)
        reasons += [b.reason for b in res.bad]
        lines += [line for rows in res.out.values() for _, line in rows]
    return lines, reasons


def test_an_unknown_outcome_is_dead_lettered_with_its_reason() -> None:
    lines, reasons = _run("hired")
    assert len(reasons) == 1 and "outcome 'hired' is not one of offer, rejected, withdrawn" in reasons[0]
    rows = [HiringProcessStatus.model_validate_json(line) for line in lines if b'"status"' in line]
    assert rows and {r.status for r in rows} == {rows[0].status}  # the process's own status, the outcome left out
    assert rows[0].status not in ("offer", "rejected", "withdrawn")


def test_a_known_outcome_ends_the_process() -> None:
    lines, reasons = _run("offer")
    assert reasons == []
    rows = [HiringProcessStatus.model_validate_json(line) for line in lines if b'"status"' in line]
    assert rows[-1].status == "offer"
