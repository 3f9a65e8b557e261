"""The lateness of scrape status events is measured against the newest status event of the post, also when
that event is a duplicate of a fact the scrape_requests CDC reported first (found by the three-worker test: the
duplicate's clock was dropped with its unchanged state, and a later, late event was counted)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from schemas.models import ScrapeRequestStatus
from streams.agents import posts
from streams.settings import StreamsSettings

HOUR = 3_600_000
T3 = 1_786_966_790_182


def _event(request_id: str, t: int, status: str) -> bytes:
    ev = ScrapeRequestStatus.model_validate({"event_id": str(uuid.uuid4()), "event_time": t, "source": "test",
                                             "request_id": request_id, "post_id": "p1", "flow": "instagram_post",
                                             "status": status})  # fmt: skip
    return ev.model_dump_json().encode()


def _cdc(request_id: str, t: int, status: str) -> bytes:
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    after = {"id": request_id, "post_id": "p1", "flow": "instagram_post", "status": status, "attempt": 1,
             "updated_at": at}  # fmt: skip
    return json.dumps({"before": None, "after": after, "op": "u", "source": {"lsn": 1, "ts_ms": t,
                       "table": "scrape_requests"}, "ts_ms": t}).encode()  # fmt: skip


def _runs(runs: list[tuple[str, bytes]]) -> tuple[dict[str, Any], list[Any]]:
    settings = StreamsSettings(allowed_lateness_ms=24 * HOUR)
    states: dict[str, Any] = {}
    rows: list[Any] = []
    for name, value in runs:
        res = posts.handle(name, value, states.get, settings, T3 + HOUR)
        assert res.bad == []
        states.update(res.states)
        rows += [json.loads(line) for _, line in res.out.get(posts.POST_STATUS, [])]
    return states, rows


def test_a_duplicate_status_event_still_moves_the_lateness_clock():
    late = _event("req-2", T3 - 62 * HOUR, "COMPLETE")  # 62 h before the newest status event: late (24 h)
    for together in (True, False):
        first = [(posts.SCRAPE_CDC, _cdc("req-3", T3, "COMPLETE"))]
        if together:  # the duplicate and the late event in one run
            runs = [*first, (posts.SCRAPE_STATUS, _event("req-3", T3, "COMPLETE") + b"\n" + late)]
        else:  # in two runs: the duplicate alone changes no figure, but its clock must be kept
            runs = [*first, (posts.SCRAPE_STATUS, _event("req-3", T3, "COMPLETE")), (posts.SCRAPE_STATUS, late)]
        states, rows = _runs(runs)
        assert states["p1"].status_max_t == T3, together
        assert rows[-1]["complete_30d"] == 1, (together, rows[-1])
