"""Schemathesis hooks for the ingest API's run (SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks).

The document bounds ``event_time`` by the contracts' range (2000-2100), but the API also refuses an event more
than ``STIR_INGEST_MAX_FUTURE_SKEW_S`` ahead of its clock, a bound no static document can state. A generated
time in that gap (schema-valid, refused as the future) is moved to a minute ago: a valid value stays valid, and
an invalid one (wrong type, out of range) is left as it is."""

from __future__ import annotations

import time
from typing import Any

import schemathesis

MAX_EPOCH_MS = 4_102_444_800_000


def _settle(item: Any) -> Any:
    if isinstance(item, dict):
        t = item.get("event_time")
        now = int(time.time() * 1000)
        # JSON Schema counts 2.0 an integer, and so does the API
        if isinstance(t, int | float) and not isinstance(t, bool) and float(t).is_integer() and now < t <= MAX_EPOCH_MS:
            item = {**item, "event_time": now - 60_000}
    return item


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Every phase's requests (the coverage phase's boundary values too), just before they are sent."""
    body = case.body
    case.body = [_settle(item) for item in body] if isinstance(body, list) else _settle(body)
