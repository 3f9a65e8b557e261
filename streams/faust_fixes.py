"""Workarounds for faust-streaming 0.15.3 (with aiokafka 0.14.0) that keep the agents' input lossless across a
restart. ``apply_all()`` checks the pinned versions and switches on the patches; the runtime calls the two
mechanisms its handler needs. Each was found by the SIGKILL oracle test
(``tests/integration/test_streams_oracle.py``), which fails without them:

1. Stale batches. ``Consumer.getmany`` fetches a batch and hands it out record by record, awaiting each
   delivery; meanwhile the table recovery pauses the partitions and seeks them to their committed offsets, and
   faust keeps handing out the rest of the old batch: a stream sees 367..372, the seek to 367, then 373, and
   the hole is committed as a "gap". ``drop_batches_fetched_before_a_seek`` counts seeks and pauses, stops a
   batch fetched before the latest one and seeks to the committed offsets again (the fetch may have moved
   the position past the seek).
2. Partitions without a committed offset. The seek to committed offsets leaves them where the fetch left them,
   so records handed out before it are never read again (the internal topic's first messages were lost).
   ``rewind_uncommitted`` (part of 1) puts them back to their beginning (``auto.offset.reset=earliest``).
3. Messages before recovery. faust can hand an agent messages before its tables are recovered:
   ``wait_for_table_recovery`` (the runtime awaits it before every run).
4. Changelog writes not yet sent at a commit: ``write_awaiting_changelog`` (the runtime persists with it).
5. The livelock diagnostic asserting on a partition whose position is being reset:
   ``tolerate_unpositioned_partitions``.

``refuse_offset_gaps`` stays the last line of defence (exit 70, never commit a hole), and
``wait_for_dead_members`` (``run_worker`` calls it before joining) avoids the extra rebalance a restart right
after a kill causes. Everything read twice because of these is dropped by the agents' dedup.

``TOUCHED`` lists every faust/aiokafka attribute the workarounds replace or read; a unit test
(``tests/unit/streams/test_faust_fixes.py``) checks each still exists, so an upgrade that drops one fails there.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

log = logging.getLogger("stir.streams")

PINS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
CONSUMER = "faust.transport.consumer:Consumer"
THREAD = "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread"
APP, TABLE = "faust.app.base:App", "faust.tables.table:Table"
# workaround: ("patched" | "read", "module:Class" or "module", attribute); instance attributes are checked on
# instances (a consumer, its thread, an app, a table)
TOUCHED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "drop_batches_fetched_before_a_seek": (
        ("patched", CONSUMER, "seek"), ("patched", CONSUMER, "perform_seek"),
        ("patched", CONSUMER, "pause_partitions"), ("patched", CONSUMER, "_wait_next_records"),
        ("patched", CONSUMER, "getmany"), ("patched", THREAD, "seek_wait"), ("patched", THREAD, "seek_to_committed"),
        ("read", CONSUMER, "app"), ("read", CONSUMER, "assignment"), ("read", CONSUMER, "_committed_offset"),
        ("read", CONSUMER, "_read_offset"), ("read", CONSUMER, "_thread"), ("read", THREAD, "consumer"),
        ("read", THREAD, "seek_to_beginning"), ("read", "faust.transport.conductor:Conductor", "acks_enabled_for"),
        ("read", "aiokafka", "TopicPartition"),
    ),
    "refuse_offset_gaps": (("patched", CONSUMER, "_add_gap"),),
    "tolerate_unpositioned_partitions": (("patched", THREAD, "verify_event_path"),),
    "wait_for_table_recovery": (
        ("read", "faust.tables.manager:TableManager", "recovery"),
        ("read", "faust.tables.recovery:Recovery", "completed"),
        ("read", APP, "tables"), ("read", APP, "in_recovery"), ("read", APP, "rebalancing"),
    ),
    "write_awaiting_changelog": (
        ("read", TABLE, "send_changelog"), ("read", TABLE, "partition_for_key"), ("read", TABLE, "data"),
    ),
}  # fmt: skip
_applied = False


class PinnedVersionError(RuntimeError):
    pass


def check_versions() -> None:
    """The workarounds patch private code of exactly these versions: anything else fails here, by name."""
    for package, pin in PINS.items():
        try:
            installed = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pin:
            raise PinnedVersionError(
                f"{package} is {installed}, but streams/faust_fixes.py patches {package}=={pin} internals: install "
                f"{package}=={pin} (pyproject.toml pins it), or re-check every workaround against {installed} and "
                f"move the pin"
            )


def apply_all() -> None:
    """Check the pinned versions, then switch on every patch (once per process)."""
    global _applied
    check_versions()
    if _applied:
        return
    drop_batches_fetched_before_a_seek()
    refuse_offset_gaps()
    tolerate_unpositioned_partitions()
    _applied = True


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


async def wait_for_table_recovery(app: Any) -> None:
    """faust can hand an agent messages before its tables are recovered from the changelog (right after a
    start or a rebalance); a run processed then would see empty state and write it back. Wait until the
    recovery is complete; those messages are read again after it and are then duplicates."""
    recovery = app.tables.recovery
    while not recovery.completed.is_set() or app.in_recovery or app.rebalancing:
        await asyncio.sleep(0.02)


async def write_awaiting_changelog(table: Any, states: Iterable[tuple[bytes, Any, Any]]) -> None:
    """Write ``(key, value, changelog value)`` into ``table`` and wait until the broker has acknowledged their
    changelog records.

    ``table[key] = state`` only queues the changelog record, and faust's pre-commit flush gives up after
    0.1 s of no progress, so an offset could be committed while the state it depends on was still in the
    producer's buffer; a SIGKILL then left the recovered state older than the committed offsets.
    """
    futures = []
    for k, value, encoded in states:
        futures.append(table.send_changelog(table.partition_for_key(k), k, encoded))
        table.data[k] = value
    for fut in futures:
        await fut


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


def rewind_uncommitted(perform_seek: Any) -> Any:
    """``perform_seek`` seeks every partition to its committed offset, and leaves a partition that has none
    where its fetch position happens to be: records fetched and handed out before the seek are then never read
    again (seen: the first message of the internal topic lost after a restart). Such a stream partition goes
    back to its beginning (the ``auto.offset.reset=earliest`` start; what was processed already is dropped as
    duplicates)."""

    async def seek_then_rewind(self: Any) -> None:
        await perform_seek(self)
        acks_enabled = self.app.topics.acks_enabled_for
        never = [tp for tp in self.assignment() if acks_enabled(tp.topic) and self._committed_offset.get(tp) is None]
        if never:
            from aiokafka import TopicPartition as AioTP  # aiokafka checks the type; faust's TP is another tuple

            await self._thread.seek_to_beginning(*(AioTP(tp.topic, tp.partition) for tp in never))
            for tp in never:
                self._read_offset[tp] = None

    return seek_then_rewind


def drop_batches_fetched_before_a_seek() -> None:
    """Count every seek of the consumer (``seek``, ``perform_seek``, ``seek_wait``); a batch fetched under an
    older count is not delivered any further."""
    from faust.transport import consumer as faust_consumer
    from faust.transport.drivers import aiokafka as faust_aiokafka

    consumer_cls: Any = faust_consumer.Consumer
    thread_cls: Any = faust_aiokafka.AIOKafkaConsumerThread

    def bump(consumer: Any) -> None:
        consumer._stir_seeks = getattr(consumer, "_stir_seeks", 0) + 1

    def counted(fn: Any, owner: str) -> Any:
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            bump(self if owner == "consumer" else self.consumer)
            try:
                return await fn(self, *args, **kwargs)
            finally:
                bump(self if owner == "consumer" else self.consumer)

        return wrapper

    consumer_cls.seek = counted(consumer_cls.seek, "consumer")
    consumer_cls.perform_seek = counted(rewind_uncommitted(consumer_cls.perform_seek), "consumer")
    pause = consumer_cls.pause_partitions

    def pause_partitions(self: Any, tps: Any) -> Any:
        bump(self)  # records fetched before a pause (table recovery) are not handed out after it
        return pause(self, tps)

    consumer_cls.pause_partitions = pause_partitions
    thread_cls.seek_wait = counted(thread_cls.seek_wait, "thread")
    thread_cls.seek_to_committed = counted(thread_cls.seek_to_committed, "thread")

    wait_next = consumer_cls._wait_next_records

    async def wait_next_records(self: Any, timeout: float) -> Any:
        self._stir_batch_seeks = getattr(self, "_stir_seeks", 0)  # before the fetch starts
        return await wait_next(self, timeout)

    consumer_cls._wait_next_records = wait_next_records
    getmany = consumer_cls.getmany

    async def getmany_until_seek(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        batch = getmany(self, timeout)
        try:
            async for tp, message in batch:
                if getattr(self, "_stir_seeks", 0) != self._stir_batch_seeks:
                    # The fetch may have moved the position past the seek's target (it returned records from
                    # there, which are dropped here): seek again. Nothing was delivered since the seek (this
                    # batch is the first to be handed out after it), so the committed offsets are the place.
                    log.info("a seek happened since this batch was fetched; seeking to the committed offsets")
                    await self.perform_seek()
                    return
                yield tp, message
        finally:
            await batch.aclose()

    consumer_cls.getmany = getmany_until_seek


def tolerate_unpositioned_partitions() -> None:
    """faust's livelock detector (``verify_event_path``, a periodic diagnostic) reads aiokafka's fetch position
    of every assigned partition; right after a seek or an offset reset that position is not known yet and
    aiokafka asserts, which crashed the whole worker (seen once in twelve SIGKILL runs, in the restarted
    worker's first seconds). The check is skipped for such a partition; it runs again a few seconds later."""
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread.verify_event_path
    if getattr(original, "_stir_tolerant", False):
        return

    def verify_event_path(self: Any, now: float, tp: Any) -> None:
        try:
            return original(self, now, tp)
        except AssertionError:
            log.debug("livelock check skipped for %s: its position is not known yet", tp)
            return None

    verify_event_path._stir_tolerant = True  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread.verify_event_path = verify_event_path  # type: ignore[method-assign]
