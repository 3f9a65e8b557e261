"""Late data is never lost silently: with the default settings a shuffled 120-day backfill keeps every snapshot
inside the 90-day history window, and every event it does not apply comes back for ``dlq.late`` with its
reason, as the contract line it was written as (so that it can be replayed with a wider lateness)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from schemas.models import ProfileSnapshot
from streams.agents import profiles
from streams.settings import StreamsSettings

DAY = 86_400_000
END = 1_790_000_000_000


def _snapshot(rng: random.Random, profile: int, t: int) -> ProfileSnapshot:
    return ProfileSnapshot(event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), event_time=t,
                           source="backfill", profile_id=str(profile), platform="instagram", handle=f"h{profile}",
                           followers=1000 + t // DAY % 1000)  # fmt: skip


def test_a_shuffled_120_day_backfill_loses_nothing_silently():
    rng = random.Random(7)
    events = [_snapshot(rng, p, END - d * DAY - rng.randrange(DAY)) for p in range(20) for d in range(120)]
    rng.shuffle(events)
    settings = StreamsSettings()  # the defaults
    states: dict[str, Any] = {}
    late: dict[str, str] = {}
    for i in range(0, len(events), 50):
        value = b"\n".join(e.model_dump_json().encode() for e in events[i : i + 50])
        res = profiles.handle(profiles.SNAPSHOTS, value, states.get, settings, END)
        states.update(res.states)
        assert res.bad == []
        for b in res.late:
            ev = ProfileSnapshot.model_validate_json(b.line)  # a valid contract line, replayable as it is
            assert b.line == ev.model_dump_json().encode()
            assert "late" in b.reason and "STIR_STREAMS_ALLOWED_LATENESS_MS" in b.reason
            late[ev.event_id] = b.reason
        assert res.late_dropped == len(res.late)
    applied = sum(s.snapshots_applied for s in states.values())
    assert applied + len(late) == len(events)  # every event applied or in the late dead letters
    newest = {p: max(e.event_time for e in events if e.profile_id == p) for p in {e.profile_id for e in events}}
    for e in events:  # only what lies beyond 90 days before its profile's newest snapshot can go late
        if e.event_id in late:
            assert e.event_time < newest[e.profile_id] - 90 * DAY
    in_window = [e for e in events if e.event_time >= newest[e.profile_id] - 90 * DAY]
    assert not any(e.event_id in late for e in in_window)  # nothing the growth windows read is dropped
    assert len(late) < len(events) // 4  # the 30 oldest days at most (shuffled arrival)


def test_default_lateness_covers_the_longest_history_window():
    from streams.transforms.profile import GROWTH_DAYS

    assert StreamsSettings().allowed_lateness_ms >= max(GROWTH_DAYS) * DAY
