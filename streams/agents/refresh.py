"""``refresh`` (a timer, not a stream): every ``refresh_interval_s``, refresh requests for the posts in the refresh
scope, read from the posts agent's table (see ``streams/transforms/refresh.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from schemas.models import RefreshRequest
from schemas.topics import topic
from streams.agents.common import declared
from streams.settings import StreamsSettings
from streams.transforms import post as tpost
from streams.transforms import refresh as trefresh
from streams.transforms.post import PostState

AGENT = "refresh"
REQUESTS = topic("social.scrape.request").name
declared(AGENT, reads=(), writes=(REQUESTS,))
REFRESH_NS = uuid.UUID("0d6e9f0a-2b1c-4c7e-8a55-6f2f3b9c1d42")
WINDOW_MS = 12 * tpost.HOUR_MS  # one request id per post and window


class RefreshRequests:
    """Remembers what it requested (in memory: a restart may request a post again, with the same id)."""

    def __init__(self, settings: StreamsSettings) -> None:
        self.s = settings
        self.requested: dict[str, int] = {}

    def __call__(self, states: Iterable[tuple[str, PostState]], now: int) -> list[tuple[str, bytes]]:
        """The request lines (key: post id) for the posts to refresh at ``now``."""
        picked = trefresh.candidates(states, now, limit=self.s.refresh_max_per_interval, requested=self.requested)
        window = now // WINDOW_MS
        rows = []
        for post_id, st in picked:
            row = st.row
            assert row is not None and row.published_at is not None  # a candidate has its OLTP row
            req = {
                "event_id": str(uuid.uuid5(REFRESH_NS, f"{post_id}|{window}")),
                "event_time": now, "ingested_at": None, "source": "streams.refresh", "schema_version": 1,
                "request_id": f"refresh:{post_id}:{window}", "post_id": post_id,
                "flow": trefresh.FLOW, "reason": "stale", "published_at": row.published_at, "shortcode": row.shortcode,
            }  # fmt: skip
            rows.append((post_id, RefreshRequest.model_validate(req).model_dump_json().encode()))
            self.requested[post_id] = now
        return rows
