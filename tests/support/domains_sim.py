"""The hiring and login agents' batch functions driven without Kafka (fast oracle tests), with restarts."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from schemas.kafka import partition_for
from schemas.models import MODELS
from streams.agents.clocked import ClockedBatch
from streams.agents.hiring import HiringBatch
from streams.agents.logins import SecurityBatch
from streams.settings import StreamsSettings
from tests.support.stream_sim import Reduced, interleave

DOMAIN_KEYS = {"status.hiring.process": "process_id", "dim.hiring.position": "position_id",
               "dim.hiring.company": "company_id", "status.account.security": "user_id"}  # fmt: skip


def domain_messages(records: list[tuple[str, str, dict[str, Any]]], partitions: int, max_rows: int
                    ) -> list[tuple[str, int, bytes]]:  # fmt: skip
    """CDC: one change per message (as Debezium writes); events: runs of ``max_rows`` grouped per partition."""
    out: list[tuple[str, int, bytes]] = []
    for i in range(0, len(records), max_rows):
        groups: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        for topic, key, row in records[i : i + max_rows]:
            line = json.dumps(row, separators=(",", ":")).encode()
            part = partition_for(key.encode(), partitions)
            if topic.startswith("cdc."):
                out.append((topic, part, line))
            else:
                groups[(topic, part)].append(line)
        out += [(n, p, b"\n".join(lines)) for (n, p), lines in groups.items()]
    return out


def simulate_domains(records: list[tuple[str, str, dict[str, Any]]], settings: StreamsSettings, *, max_rows: int = 100,
                     seed: int | None = None, restart_every: int = 0) -> Reduced:  # fmt: skip
    """Every message through its agent; ``restart_every``: every N messages the agents restart (new objects,
    clocks rebuilt from the tables) and re-process the last few messages (a crash before the commit)."""
    tables: dict[str, dict[str, Any]] = {"hiring": {}, "logins": {}}
    fns: dict[str, ClockedBatch] = {"hiring": HiringBatch(settings), "logins": SecurityBatch(settings)}
    reduced = Reduced()

    def collect(res_out: dict[str, list[tuple[str, bytes]]]) -> None:
        for topic, rows in res_out.items():
            for _key, line in rows:
                row = MODELS[topic].model_validate_json(line)
                assert list(json.loads(line)) == list(type(row).model_fields)
                reduced.add(topic, DOMAIN_KEYS[topic], line)

    msgs = domain_messages(records, settings.partitions, max_rows)
    order = msgs if seed is None else interleave(msgs, seed)
    done: list[tuple[str, int, bytes]] = []
    i = 0
    while i < len(order):
        name, _part, value = order[i]
        agent = "logins" if name == "activity.auth.attempt" else "hiring"
        fn = fns[agent]
        if not fn.clock.ready:
            collect(fn.rebuild(tables[agent].items()).out)
        res = fn(name, value, tables[agent].get, settings, 0)
        collect(res.out)
        tables[agent].update(res.states)
        done.append(order[i])
        i += 1
        if restart_every and i % restart_every == 0 and i < len(order):
            fns = {"hiring": HiringBatch(settings), "logins": SecurityBatch(settings)}
            replay = done[-3:]  # processed, not committed: read again after the restart
            order[i:i] = replay
    return reduced
