"""``hiring`` agent (key: process id): the processes, interviews and outcomes CDC → each process's status,
which also moves with the event-time clock (interviews pass, a process becomes ghosted); the job_positions and
companies CDC (keyed by their own ids, no state) → the dimension topics."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from schemas.models import HiringCompany, HiringPosition, HiringProcessStatus
from schemas.topics import topic
from streams.agents.clocked import ClockedBatch
from streams.agents.common import BatchResult, GetState, declared
from streams.settings import DAY_MS, StreamsSettings
from streams.transforms import hiring as th
from streams.transforms.cdc import decode_cdc
from streams.transforms.hiring import HiringState
from streams.transforms.hiring_dims import dimension_row, dimension_time
from streams.transforms.records import contract_line

AGENT = "hiring"
FACTS = (topic("cdc.public.processes").name, topic("cdc.public.interviews").name, topic("cdc.public.outcomes").name)
DIMENSIONS = (topic("cdc.public.job_positions").name, topic("cdc.public.companies").name)
PROCESS_STATUS = topic("status.hiring.process").name
POSITION_DIM = topic("dim.hiring.position").name
COMPANY_DIM = topic("dim.hiring.company").name
declared(AGENT, reads=(*FACTS, *DIMENSIONS), writes=(PROCESS_STATUS, POSITION_DIM, COMPANY_DIM))
# a dimension change's source table: its topic and contract
DIM_OUTPUTS: dict[str, tuple[str, type[BaseModel]]] = {
    "job_positions": (POSITION_DIM, HiringPosition),
    "companies": (COMPANY_DIM, HiringCompany),
}


class HiringBatch(ClockedBatch):
    agent = AGENT
    topic = PROCESS_STATUS

    @property
    def ghost_after_ms(self) -> int:
        return int(self.s.hiring_ghost_after_days * DAY_MS)

    def next_change(self, state: HiringState, now: int) -> int | None:
        return th.next_change(state, now, self.ghost_after_ms)

    def row_line(self, key: str, state: HiringState, now: int) -> tuple[bytes, int, int] | None:
        row = th.status_row(key, state, now, self.ghost_after_ms)
        if row is None:
            return None
        line = contract_line(HiringProcessStatus, self.topic, row, key, row["last_activity_at"], self.agent)
        return line, row["version"], min(row["last_activity_at"], now)

    def static_version(self, key: str, state: HiringState) -> int | None:
        row = th.status_row(key, state, 0, self.ghost_after_ms)
        return None if row is None else row["version"]

    def __call__(
        self, name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int
    ) -> BatchResult:
        res = BatchResult()
        rows, res.bad = decode_cdc(value)
        res.rows_in = len(rows) + len(res.bad)
        if name in DIMENSIONS:
            for r in rows:
                table, key, row = dimension_row(r)
                topic_name, model = DIM_OUTPUTS[table]
                line = contract_line(model, topic_name, row, key, dimension_time(r), self.agent)
                res.out[topic_name].append((key, line))
            return res
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_key[th.process_key(r)].append(r)
        changed: dict[str, HiringState] = {}
        for key, facts in by_key.items():
            stored: HiringState | None = get_state(key)
            state = stored.copy() if stored is not None else HiringState()
            outcome = th.Outcome()
            th.apply_cdc(state, facts, outcome)
            res.duplicates += outcome.duplicates
            if outcome.changed:
                changed[key] = state
        self.finish(res, changed, get_state, now_ms)
        return res
