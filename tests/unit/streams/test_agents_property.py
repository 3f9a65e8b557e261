"""Property: whatever arrives on the agents' input topics, every agent (chained as the topology wires them, as
the runtime runs them) applies each row or dead-letters it with a reason, never raises, and every row it writes
on a contracted topic validates against its full model. Inputs: contracted events with values anywhere inside
their bounds (extremes included), duplicates, events out of order, CDC changes of every op with odd images,
and garbage lines."""

from __future__ import annotations

import json
import types
import typing
import uuid
from collections import defaultdict
from typing import Any

from annotated_types import Ge, Le
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.bounds import MAX_COUNT, MIN_EPOCH_MS, Wire
from schemas.registry import contracts
from schemas.topics import topic
from streams.agents import STREAM_AGENTS
from streams.agents.clocked import ClockedBatch
from streams.runtime import run_isolated
from streams.settings import StreamsSettings

NOW = 1_790_000_000_000
DAY = 86_400_000
IDS = ["1", "2", "3"]
EVENT_IDS = [str(uuid.UUID(int=i + 1)) for i in range(4)]
RAW_EVENTS = ("social.profile.snapshot", "social.post.snapshot", "social.scrape.status", "activity.auth.attempt")
CDC_TABLES = ("profiles", "scrape_requests", "collection_items", "companies", "job_positions", "processes",
              "interviews", "outcomes")  # fmt: skip

text = st.text(st.characters(codec="utf-8"), max_size=12)  # the utf-8 codec leaves out lone surrogates
times = st.integers(NOW - 120 * DAY, NOW)
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda k: st.lists(k, max_size=2) | st.dictionaries(text, k, max_size=2),
    max_leaves=4,
)


def field_strategy(name: str, info: Any) -> st.SearchStrategy[Any]:
    ann, meta, optional = info.annotation, list(info.metadata), False
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        optional, ann = True, args[0]
    if typing.get_origin(ann) is typing.Annotated:
        ann, *extra = typing.get_args(ann)
        meta += extra
    wire = next((m.avro for m in meta if isinstance(m, Wire)), None)
    lo: Any = next((m.ge for m in meta if isinstance(m, Ge)), None)
    hi: Any = next((m.le for m in meta if isinstance(m, Le)), None)
    s: st.SearchStrategy[Any]
    if typing.get_origin(ann) is typing.Literal:
        s = st.sampled_from(typing.get_args(ann))
    elif name == "event_id":
        s = st.sampled_from(EVENT_IDS) | st.uuids().map(str)
    elif wire == "long/timestamp-millis":
        s = times | st.sampled_from([MIN_EPOCH_MS, NOW])
    elif ann is int:
        lo, hi = int(lo if lo is not None else 0), int(min(hi if hi is not None else MAX_COUNT, MAX_COUNT))
        s = st.integers(max(lo, 0), hi) | st.sampled_from([max(lo, 0), hi])
    elif ann is float:
        s = st.floats(0, float(hi) if hi is not None else 1e12, allow_nan=False)
    elif ann is bool:
        s = st.booleans()
    elif name.endswith("_id") or name in ("flow", "source"):
        s = st.sampled_from(IDS)
    else:
        s = text | st.just("x" * 255)
    return st.none() | s if optional else s


def event_line(topic_name: str) -> st.SearchStrategy[bytes]:
    model = contracts()[topic_name].model
    fields = {n: field_strategy(n, i) for n, i in model.model_fields.items() if n != "ingested_at"}
    return st.fixed_dictionaries(fields).map(lambda d: json.dumps(d).encode())


def image(table: str) -> st.SearchStrategy[dict[str, Any]]:
    iso = times.map(lambda t: f"{t // 1000}")
    col = {"id": st.sampled_from(IDS).map(int), "post_id": st.sampled_from(IDS).map(int),
           "collection_id": st.sampled_from(IDS).map(int), "process_id": st.sampled_from(IDS).map(int),
           "position_id": st.sampled_from(IDS).map(int), "company_id": st.sampled_from(IDS).map(int),
           "handle": text, "category": text | st.just("c" * 6400) | st.just("__debezium_unavailable_value"),
           "language": text, "flow": st.sampled_from(["instagram_post", "f"]),
           "status": st.sampled_from(["PENDING", "RUNNING", "COMPLETE", "FAILED", "scheduled", "completed",
                                      "cancelled", "applied", "screening", "open", "odd"]),
           "attempt": st.integers(0, 10), "name": text, "title": text, "location": text,
           "candidate_name": text, "stage": st.sampled_from(["screening", "technical", "final"]),
           "outcome": st.sampled_from(["offer", "rejected", "withdrawn", "hired"]),
           "updated_at": times | iso.map(lambda s: "2026-09-01T00:00:00Z"), "applied_at": times,
           "scheduled_at": times, "completed_at": st.none() | times, "created_at": times, "decided_at": times,
           "added_at": times}  # fmt: skip
    required = REQUIRED[table]
    extra = st.lists(st.sampled_from(sorted(col)), max_size=4, unique=True)
    keys = st.tuples(st.booleans(), st.booleans(), extra).map(
        lambda b: sorted({*(required if b[0] or b[1] else required[:1]), *b[2]})
    )  # mostly whole rows
    return keys.flatmap(lambda ks: st.fixed_dictionaries({k: st.one_of(col[k], anything) if k == "attempt" else col[k]
                                                           for k in ks}))  # fmt: skip


REQUIRED = {"profiles": ["id", "handle"], "scrape_requests": ["id", "post_id", "flow", "status", "updated_at"],
            "collection_items": ["collection_id", "post_id"], "companies": ["id", "name"],
            "job_positions": ["id", "company_id", "title"], "processes": ["id", "position_id", "applied_at"],
            "interviews": ["id", "process_id", "stage", "scheduled_at"],
            "outcomes": ["id", "process_id", "outcome", "decided_at"]}  # fmt: skip


def cdc_line(table: str) -> st.SearchStrategy[bytes]:
    def build(op: str, before: dict[str, Any], after: dict[str, Any], lsn: int, ts: int) -> bytes:
        row = {"op": op, "before": before if op in "ud" else None, "after": None if op == "d" else after,
               "source": {"lsn": lsn, "ts_ms": ts, "table": table, "schema": "public"}, "ts_ms": ts}  # fmt: skip
        return json.dumps(row).encode()

    ops = st.sampled_from(["c", "r", "u", "d", "t", "m"])
    return st.builds(build, ops, image(table), image(table), st.integers(1, 50), times)


def message(topic_name: str) -> st.SearchStrategy[bytes]:
    table = topic(topic_name).table
    good = cdc_line(table) if table is not None else event_line(topic_name)
    line = st.one_of(good, good, good, st.binary(max_size=20), anything.map(lambda v: json.dumps(v).encode()))
    return st.lists(line, min_size=1, max_size=5).map(b"\n".join)


INPUTS = [*RAW_EVENTS, *(f"cdc.public.{t}" for t in CDC_TABLES)]
messages = st.lists(st.sampled_from(INPUTS).flatmap(lambda t: st.tuples(st.just(t), message(t))), max_size=10)


class Chain:
    """Every agent with its own state, outputs routed to the agents that read them (as the topology does)."""

    def __init__(self) -> None:
        self.s = StreamsSettings(allowed_lateness_ms=30 * DAY)
        self.handlers = {a.name: a.handler(self.s) for a in STREAM_AGENTS}
        self.states: dict[str, dict[str, Any]] = defaultdict(dict)
        self.written: list[tuple[str, bytes]] = []
        self.dead: list[tuple[str, bytes, str]] = []
        for h in self.handlers.values():
            if isinstance(h, ClockedBatch):
                h.rebuild([])

    def feed(self, topic_name: str, value: bytes, depth: int = 0) -> None:
        readers = [a for a in self.handlers if a in topic(topic_name).readers]
        for agent in readers:
            states = self.states[agent]
            res = run_isolated(self.handlers[agent], topic_name, value, states.get, self.s, NOW, agent)
            states.update(res.states)
            self.dead += [(agent, b.line, b.reason) for b in res.bad]
            for out_topic, rows in res.out.items():
                for _key, line in rows:
                    self.written.append((out_topic, line))
                    if depth < 4:
                        self.feed(out_topic, line, depth + 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages)
def test_no_input_stops_an_agent_and_every_output_row_is_valid(batch):
    chain = Chain()
    for topic_name, value in batch:
        chain.feed(topic_name, value)  # raises on any escaped exception: the property
    for agent, _line, reason in chain.dead:
        assert reason, agent
    for out_topic, line in chain.written:
        contract = topic(out_topic).contract
        if contract is not None:
            contracts()[contract].model.model_validate_json(line)
        else:
            assert isinstance(json.loads(line), dict)
