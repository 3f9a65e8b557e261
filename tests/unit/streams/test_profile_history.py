"""A profile's follower history: the newest snapshot of each hour of event time, whatever the order they come
in; the growth metrics read it; duplicates and superseded snapshots change nothing; its size follows the hours
covered, not the snapshots received."""

from __future__ import annotations

import random
import uuid

import orjson

from schemas.models import ProfileSnapshot
from streams.transforms import profile as tprof

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_790_000_000_000 - 1_790_000_000_000 % DAY  # an hour boundary


def _snap(t: int, followers: int, eid: str | None = None) -> ProfileSnapshot:
    return ProfileSnapshot(event_id=eid or str(uuid.uuid4()), event_time=t, source="test", profile_id="p1",
                           platform="instagram", handle="h", followers=followers)  # fmt: skip


def _apply(state: tprof.ProfileState, snaps: list[ProfileSnapshot], lateness: int = 90 * DAY
           ) -> tprof.ProfileOutcome:  # fmt: skip
    out = tprof.ProfileOutcome()
    tprof.apply_snapshots(state, snaps, lateness, out)
    return out


def test_an_hour_keeps_its_newest_snapshot_in_any_order() -> None:
    snaps = [_snap(T0 + m * 60_000, 1000 + m) for m in range(60)] + [_snap(T0 + HOUR, 5000)]
    for seed in range(5):
        rng = random.Random(seed)
        order = snaps[:]
        rng.shuffle(order)
        state = tprof.ProfileState()
        for s in order:
            _apply(state, [s])
        assert [tuple(p) for p in state.history] == [(T0 + 59 * 60_000, snaps[59].event_id, 1059),
                                                     (T0 + HOUR, snaps[60].event_id, 5000)]  # fmt: skip
        assert state.max_t == T0 + HOUR


def test_growth_reads_the_newest_point_of_each_hour_at_or_before_the_window() -> None:
    state = tprof.ProfileState()
    week_ago = T0 - 7 * DAY
    _apply(state, [_snap(week_ago + 10 * 60_000, 100), _snap(week_ago + 50 * 60_000, 200),
                   _snap(T0 + 30 * 60_000, 300)])  # fmt: skip
    row = tprof.profile_row("p1", state)
    assert row is not None
    # the window reaches T0 + 30 min - 7 d: the hour's newest point (at 50 min) is after it, the one at 10 min
    # is not in the history; no point of an earlier hour: no growth yet
    assert row["followers"] == 300 and row["followers_growth_7d"] is None
    _apply(state, [_snap(T0 + 55 * 60_000, 320)])
    row = tprof.profile_row("p1", state)
    assert row is not None and row["followers_growth_7d"] == 120 and row["growth_rate_7d"] == 60.0


def test_a_duplicate_or_an_older_snapshot_of_a_kept_hour_changes_nothing() -> None:
    state = tprof.ProfileState()
    first = _snap(T0 + 20 * 60_000, 10)
    _apply(state, [first, _snap(T0 + 40 * 60_000, 20)])
    version, hist = state.version, list(state.history)
    for again in (first, _snap(T0 + 40 * 60_000, 20, state.history[0].event_id), _snap(T0 + 5 * 60_000, 1)):
        out = _apply(state, [again])
        assert not out.changed and out.duplicates == 1 and out.late == []
    assert state.version == version and state.history == hist


def test_a_snapshot_beyond_the_lateness_is_late_and_kept_for_the_late_topic() -> None:
    state = tprof.ProfileState()
    _apply(state, [_snap(T0, 10)], lateness=2 * DAY)
    late = _snap(T0 - 3 * DAY, 5)
    out = _apply(state, [late], lateness=2 * DAY)
    assert not out.changed and out.late_dropped == 1 and out.late[0][0] is late


def test_the_state_follows_the_hours_not_the_snapshots() -> None:
    """A profile scraped every second for two days: 48 points, a few KB of changelog, not 172,800 points."""
    state = tprof.ProfileState()
    for start in range(0, 2 * DAY, HOUR):
        _apply(state, [_snap(T0 + start + s * 1000, 1000 + s) for s in range(0, 3600, 1)])
    assert len(state.history) == 48
    assert len(orjson.dumps(state.to_json())) < 48 * 80 + 500
    assert "ids" not in state.to_json()
