"""The agents' batch logic over a generated workload equals the independent oracle (no Kafka here; the
integration test runs the same comparison through a real broker and worker)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from streams.settings import StreamsSettings
from streams.transforms import refresh as trefresh
from tests.support import oracle
from tests.support.stream_sim import simulate
from tests.support.workload import HOUR, generate

SKIP = {"event_id", "event_time", "ingested_at", "source", "schema_version", "version"}


def assert_rows_equal(expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]], topic: str) -> None:
    assert set(got) == set(expected), f"{topic}: keys differ ({len(set(got) ^ set(expected))})"
    for key, want in expected.items():
        row = got[key]
        for field, value in want.items():
            actual = row[field]
            if isinstance(value, float) and actual is not None:
                assert math.isclose(actual, value, rel_tol=1e-9, abs_tol=1e-9), (
                    f"{topic} {key} {field}: {actual} != {value}"
                )
            else:
                assert actual == value, f"{topic} {key} {field}: {actual!r} != {value!r}"
        assert set(row) - SKIP == set(want), f"{topic} {key}: fields differ"


@pytest.fixture(scope="module")
def workload():
    return generate(profiles=40, days=120, posts_per_profile=10, seed=11, collections=20, post_rows=True)


@pytest.mark.parametrize(("max_rows", "seed"), [(1, None), (200, None), (200, 1), (50, 2)])
def test_batch_logic_matches_oracle(workload, max_rows, seed):
    """In arrival order and in other interleavings of the topics (each partition keeps its order)."""
    now = workload.end_ms + 2 * HOUR
    settings = StreamsSettings(allowed_lateness_ms=workload.lateness_ms)
    reduced = simulate(workload, settings, now, max_rows=max_rows, seed=seed)
    expected = oracle.compute(workload, now)
    assert not reduced.conflicts
    for topic in (
        "metrics.profile.rolling",
        "metrics.post.rolling",
        "status.scrape.post",
        "metrics.collection.rolling",
    ):
        assert_rows_equal(expected[topic], reduced.rows[topic], topic)
    assert len(expected["metrics.collection.rolling"]) == 20


def test_workload_has_the_hard_cases(workload):
    ids = [row.get("event_id") for _, _, row in workload.arrival if "event_id" in row]
    assert len(ids) - len(set(ids)) > 0.03 * len(ids)  # duplicates
    times = [row["event_time"] for t, _, row in workload.arrival if t == "social.profile.snapshot"]
    assert any(b < a for a, b in itertools.pairwise(times))  # out of order


def test_refresh_candidates_match_oracle(workload):
    now = workload.end_ms + 2 * HOUR
    settings = StreamsSettings(allowed_lateness_ms=workload.lateness_ms)
    reduced = simulate(workload, settings, now)
    states = sorted(reduced.post_states.items())
    expected = oracle.refresh_eligible(workload, oracle.compute(workload, now), now)
    assert len(expected) >= 10  # the workload reaches the rule's every branch (see the scope tests)
    picked = trefresh.candidates(states, now, limit=10_000)
    assert [p for p, _ in picked] == expected
    assert [p for p, _ in trefresh.candidates(states, now, limit=7)] == expected[:7]
    requested = {p: now - HOUR for p in expected[:5]}  # requested an hour ago: skipped for 12 h
    assert [p for p, _ in trefresh.candidates(states, now, limit=10_000, requested=requested)] == expected[5:]


def test_batch_functions_never_change_a_stored_state(workload):
    """Faust serializes a table value only when its changelog record is sent: a stored state that a later
    batch changed in place would reach the changelog ahead of its committed offsets."""
    import json
    from collections import defaultdict

    from tests.support.stream_sim import agents_of, messages

    settings = StreamsSettings(allowed_lateness_ms=workload.lateness_ms)
    by_agent: dict[str, dict[str, Any]] = defaultdict(dict)
    frozen: dict[str, str] = {}
    for name, _p, value in messages(workload, settings.partitions, 100)[:600]:
        for agent, fn in agents_of(name):
            states = by_agent[agent]
            res = fn(name, value, states.get, settings, 0)
            for key in res.states:
                if key in states:
                    assert json.dumps(states[key].to_json(), sort_keys=True) == frozen[f"{id(states)}:{key}"], key
            states.update(res.states)
            for key, state in res.states.items():
                frozen[f"{id(states)}:{key}"] = json.dumps(state.to_json(), sort_keys=True)


def test_output_id_is_uuid5_of_topic_key_and_version():
    import random
    import uuid

    from streams.transforms.records import OUTPUT_NS, output_id

    rng = random.Random(3)
    for _ in range(500):
        topic = rng.choice(["metrics.profile.rolling", "status.hiring.process", "ü.topic"])
        key, version = str(rng.getrandbits(40)), rng.getrandbits(60)
        assert output_id(topic, key, version) == str(uuid.uuid5(OUTPUT_NS, f"{topic}|{key}|{version}"))


@pytest.fixture(scope="module")
def deleting_workload():
    return generate(profiles=40, days=120, posts_per_profile=10, seed=23, collections=20, deletes=True)


@pytest.mark.parametrize(("max_rows", "seed"), [(200, None), (50, 3)])
def test_deletes_flow_through_every_agent(deleting_workload, max_rows, seed):
    """Profiles, posts and collections deleted in the OLTP database: their rows say deleted, deleted posts leave
    their profile's metrics and their collections' aggregates, exactly as the oracle has it."""
    w = deleting_workload
    now = w.end_ms + 2 * HOUR
    reduced = simulate(w, StreamsSettings(allowed_lateness_ms=w.lateness_ms), now, max_rows=max_rows, seed=seed)
    expected = oracle.compute(w, now)
    assert not reduced.conflicts
    for topic in ("metrics.profile.rolling", "metrics.post.rolling", "status.scrape.post",
                  "metrics.collection.rolling"):  # fmt: skip
        assert_rows_equal(expected[topic], reduced.rows[topic], topic)
        deleted = sum(1 for r in expected[topic].values() if r["deleted"])
        assert 0 < deleted < len(expected[topic]), topic  # the workload deletes some, not all
    gone = {k for k, r in expected["metrics.profile.rolling"].items() if r["deleted"]}
    assert all(r["deleted"] for r in expected["metrics.post.rolling"].values() if r["profile_id"] in gone)


@pytest.fixture(scope="module")
def year_workload():
    """14 months of daily snapshots with everything the discovery profile reads (stories, reach, attributes)."""
    return generate(profiles=24, days=430, posts_per_profile=14, seed=31, deletes=True, discovery=True,
                    lateness_ms=90 * 86_400_000)  # fmt: skip


@pytest.mark.parametrize(("max_rows", "seed"), [(200, None), (50, 4)])
def test_year_growth_reach_and_stories_match_oracle(year_workload, max_rows, seed):
    """1-year growth from the daily points beyond 90 days, reach/impressions by class, stories outside the recent
    posts, the snapshot attributes: exactly the oracle's, in arrival order and interleaved."""
    w = year_workload
    now = w.end_ms + 2 * HOUR
    reduced = simulate(w, StreamsSettings(allowed_lateness_ms=w.lateness_ms), now, max_rows=max_rows, seed=seed)
    expected = oracle.compute(w, now)
    assert not reduced.conflicts
    for topic in ("metrics.profile.rolling", "metrics.post.rolling"):
        assert_rows_equal(expected[topic], reduced.rows[topic], topic)
    rows = expected["metrics.profile.rolling"].values()
    assert sum(r["followers_growth_365d"] is not None for r in rows) > len(rows) // 2
    assert any(r["story_reach"] is not None for r in rows) and any(r["reels_impressions"] is not None for r in rows)
    assert any(r["post_class"] == "story" for r in expected["metrics.post.rolling"].values())


def test_the_year_history_stays_small(year_workload):
    """Hourly points for ~91 days, daily ones for the rest of the year: never every snapshot of 14 months."""
    w = year_workload
    reduced_states: dict[str, Any] = {}
    from tests.support.stream_sim import agents_of, messages

    settings = StreamsSettings(allowed_lateness_ms=w.lateness_ms)
    for name, _p, value in messages(w, settings.partitions, 200):
        agent, fn = agents_of(name)[0]
        if agent == "profiles":
            reduced_states.update(fn(name, value, reduced_states.get, settings, 0).states)
    for key, st in reduced_states.items():
        if key.startswith("post:") or not hasattr(st, "history") or not st.history:
            continue
        assert len(st.history) <= 92 * 24 + 275, key
        days = {p.event_time // 86_400_000 for p in st.history}
        assert max(days) - min(days) <= 366, key
