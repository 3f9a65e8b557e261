"""The state records and their JSON form: what the changelog holds.

The JSON form is the one the changelog held before the records existed (short keys, positional arrays), so
``stored_states.json`` (states written by that code) loads, and every state the agents write comes back equal
from its changelog record, with the same bytes when written again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from faust.utils import json as faust_json

from schemas.topics import read_by
from streams.agents import STREAM_AGENTS
from streams.settings import StreamsSettings
from streams.transforms.profile import FollowerPoint, ProfileState
from streams.transforms.state import Entry
from tests.support import domains_workload, workload
from tests.support.domains_sim import domain_messages
from tests.support.stream_sim import messages

STORED = json.loads((Path(__file__).parent / "stored_states.json").read_text())
RECORDS = {a.name: a.state for a in STREAM_AGENTS}
READER = {t.name: a.name for a in STREAM_AGENTS for t in read_by(a.name)}


def _entries(value: Any) -> list[Entry]:
    """Every Entry inside a record's JSON form."""
    if isinstance(value, Entry):
        return [value]
    if isinstance(value, dict):
        return [e for v in value.values() for e in _entries(v)]
    if isinstance(value, list):
        return [e for v in value for e in _entries(v)]
    return []


def _changelog_round_trip(state: Any) -> Any:
    """What a restart recovers: faust's JSON codec writes the record's JSON form, reads it back as JSON."""
    return type(state).from_json(faust_json.loads(faust_json.dumps(state.to_json())))


@pytest.mark.parametrize("agent", sorted(RECORDS))
def test_a_state_stored_before_the_records_loads_and_is_written_back_the_same(agent: str) -> None:
    stored = STORED[agent]["state"]
    state = RECORDS[agent].from_json(json.loads(json.dumps(stored)))
    # a profile's snapshot ids went: its hourly follower history is the snapshots' dedup now
    expected = {k: v for k, v in stored.items() if not (agent == "profiles" and k == "ids")}
    assert json.loads(faust_json.dumps(state.to_json())) == expected
    assert all(type(e) is not Entry for e in _entries(state.to_json())), "every entry has its named class"


def _run_agents(check_stored: bool) -> dict[str, dict[str, Any]]:
    """Every agent over a small workload of its inputs (what an agent writes goes to the agents reading it);
    ``check_stored``: no handler changes a state it was given (faust serializes a value only when its changelog
    record is sent)."""
    settings = StreamsSettings(allowed_lateness_ms=2 * workload.DAY)
    w = workload.generate(profiles=8, days=40, posts_per_profile=5, seed=4, collections=5)
    d = domains_workload.generate(processes=40, users=20, seed=3)
    tables: dict[str, dict[str, Any]] = {a.name: {} for a in STREAM_AGENTS}
    handlers = {a.name: a.handler(settings) for a in STREAM_AGENTS}
    msgs = messages(w, settings.partitions, 20) + domain_messages(d.hiring + d.logins, settings.partitions, 20)
    queue: list[tuple[str, bytes]] = []
    for name, _part, value in msgs:
        queue.append((name, value))
        while queue:
            name, value = queue.pop(0)
            agent = READER[name]
            table = tables[agent]
            before = {k: json.dumps(v.to_json(), sort_keys=True) for k, v in table.items()} if check_stored else {}
            res = handlers[agent](name, value, table.get, settings, 0)
            for k, dumped in before.items():
                assert json.dumps(table[k].to_json(), sort_keys=True) == dumped, (agent, k)
            table.update(res.states)
            for topic, rows in res.out.items():
                if topic in READER:  # read back by another agent
                    queue += [(topic, line) for _, line in rows]
    assert all(tables.values()), {k: len(v) for k, v in tables.items()}
    return tables


@pytest.fixture(scope="module")
def written() -> dict[str, dict[str, Any]]:
    return _run_agents(check_stored=False)


def test_no_agent_changes_a_stored_state() -> None:
    _run_agents(check_stored=True)


def test_every_written_state_round_trips_through_the_changelog_exactly(written: dict[str, dict[str, Any]]) -> None:
    for agent, table in written.items():
        for key, state in table.items():
            assert type(state) is RECORDS[agent]
            back = _changelog_round_trip(state)
            assert back == state, (agent, key)
            assert faust_json.dumps(back.to_json()) == faust_json.dumps(state.to_json()), (agent, key)
            assert [type(e) for e in _entries(back.to_json())] == [type(e) for e in _entries(state.to_json())]


def test_entries_are_read_only_and_named() -> None:
    point = FollowerPoint((1_700_000_000_000, "e1", 120))
    assert (point.event_time, point.event_id, point.followers) == (1_700_000_000_000, "e1", 120)
    assert point == [1_700_000_000_000, "e1", 120] and json.dumps(point) == '[1700000000000, "e1", 120]'
    with pytest.raises(AttributeError):
        point.followers = 3


def test_a_profile_state_from_before_the_snapshot_count_loads() -> None:
    stored = {**STORED["profiles"]["state"]}
    del stored["ns"]
    assert ProfileState.from_json(stored).snapshots_applied == 0
