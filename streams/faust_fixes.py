"""Workarounds for faust-streaming 0.15 (with aiokafka 0.14) that keep the agents' input lossless.

After a restart faust can drain offsets past ones it never delivered to a stream (seen right after the
start-up rebalances, with the skipped range committed as a "gap"); ``refuse_offset_gaps`` exits instead of
committing such a hole, and ``wait_for_dead_members`` avoids the extra rebalance a restart right after a kill
would cause.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

log = logging.getLogger("stir.streams")


def wait_for_dead_members(bootstrap: str, group: str, timeout_s: float) -> None:
    """Before joining, let the group drop members that are gone (a worker killed a moment ago is still a
    member until its session times out). Joining while the group holds a dead member costs two rebalances,
    and faust-streaming can hand a stream a prefetched message past the committed offset after a rebalance
    (faust-streaming issues 221 and 606), which would skip input. Live members (other workers) stay; then
    this gives up after ``timeout_s`` and joins anyway."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
        except Exception:
            return  # unknown group: nothing to wait for
        if not desc.members:
            return
        time.sleep(0.5)
    log.warning("group %s still has members after %.0fs; joining beside them", group, timeout_s)


def refuse_offset_gaps() -> None:
    """faust-streaming treats a jump in the offsets it drains as a compacted range and commits past it
    (``Consumer._add_gap``). Our input topics are never compacted and their producers write no transaction
    markers, so a jump means messages were skipped (after a rebalance faust can hand over a prefetched
    message past the committed offset: faust-streaming issues 221 and 606). Crash-only again: exit before
    the skipped range is committed; the restarted worker reads it."""
    from faust.transport import consumer as faust_consumer

    async def exit_on_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        log.critical("offsets %d..%d of %s were skipped by the consumer; exiting to read them again",
                     offset_from, offset_to - 1, tp)  # fmt: skip
        logging.shutdown()
        os._exit(70)

    faust_consumer.Consumer._add_gap = exit_on_gap  # type: ignore[method-assign]
