"""Workarounds for faust-streaming 0.15.3 (with aiokafka 0.14.0) that keep the agents' input lossless across a
restart. ``apply_all()`` checks the pinned versions and switches on the patches; the runtime calls the two
mechanisms its handler needs. Each was found by the SIGKILL oracle test
(``tests/integration/test_streams_oracle.py``), which fails without them:

1. Stale batches. ``Consumer.getmany`` fetches a batch and hands it out record by record, awaiting each
   delivery; meanwhile the table recovery pauses the partitions and seeks them to their committed offsets, and
   faust keeps handing out the rest of the old batch: a stream sees 367..372, the seek to 367, then 373, and
   the hole is committed as a "gap". ``drop_batches_fetched_before_a_seek`` counts seeks and pauses, drops the
   stream records of a batch fetched before the latest one and seeks to the committed offsets again (the fetch
   may have moved the position past the seek); the batch's changelog records still reach the recovery.
2. Partitions without a committed offset. The seek to committed offsets leaves them where the fetch left them,
   so records handed out before it are never read again (the internal topic's first messages were lost).
   ``rewind_uncommitted`` (part of 1) puts them back to their beginning (``auto.offset.reset=earliest``).
3. Messages before recovery. faust can hand an agent messages before its tables are recovered (a worker whose
   previous assignment was empty keeps fetching through the revoke, and delivers records of newly assigned
   partitions before their recovery starts): ``wait_for_table_recovery`` (the runtime awaits it before every
   run). It never blocks a revocation: faust's revoke waits (``wait_empty``, no timeout) for the acks of the
   runs in flight, and ``app.rebalancing`` clears only after the next recovery, so an agent waiting on it while
   faust waits on the agent deadlocks the group (3 of 3 rebalances under traffic wedged, once for good). A run
   that faust is waiting for is processed when its state is whole (its partitions are still ours until the
   revoke completes; its commit or its redo after the move both give the same rows), and otherwise the worker
   exits for a restart (``RestartRequired``, exit 70) without acknowledging it.
4. Changelog writes not yet sent at a commit: ``send_changelog_awaiting_acks`` (the runtime persists with it).
5. The livelock diagnostic asserting on a partition whose position is being reset:
   ``tolerate_unpositioned_partitions``.
6. A slow SIGTERM: mode's shutdown has no overall bound, and a worker left holding nothing waits in aiokafka's
   JoinGroup until the broker's rebalance timeout (~30 s seen). ``PromptWorker`` exits at most
   ``STIR_STREAMS_SHUTDOWN_GRACE_S`` after SIGTERM: safe because the worker is crash-only (offsets are committed
   only after the outputs and states of their runs are acknowledged).

7. A root logger at DEBUG: faust's worker lowers it so that a terminal spinner turns on every record, and
   every debug call of aiokafka and faust then builds a record. ``prompt_worker`` installs no spinner.

``refuse_offset_gaps`` stays the last line of defence (exit 70, never commit a hole). Everything read twice
because of these is dropped by the agents' dedup. (``streams/membership.py`` avoids the extra rebalance a
restart right after a kill causes.)

``TOUCHED`` lists every faust/aiokafka attribute the workarounds replace or read; a unit test
(``tests/unit/streams/test_faust_fixes.py``) checks each still exists, so an upgrade that drops one fails there.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
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
        ("read", APP, "should_stop"), ("read", APP, "consumer"), ("read", CONSUMER, "diag"),
        ("read", "faust.transport.consumer", "CONSUMER_PARTITIONS_REVOKED"),
        ("read", "faust.transport.consumer", "CONSUMER_WAIT_EMPTY"),
    ),
    "prompt_sigterm": (("read", "mode.worker:Worker", "_on_sigterm"),),  # overridden in a subclass
    "no_debug_root_logger": (("read", "faust.worker:Worker", "on_setup_root_logger"),
                             ("read", "faust.worker:Worker", "_setup_spinner_handler")),  # overridden in a subclass
    "send_changelog_awaiting_acks": (
        ("read", TABLE, "changelog_topic"), ("read", TABLE, "partition_for_key"), ("read", TABLE, "data"),
        ("read", TABLE, "app"), ("read", APP, "maybe_start_producer"),
        ("read", "faust.transport.drivers.aiokafka:Producer", "send"),
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


def prompt_worker(app: Any, grace_s: float, **kwargs: Any) -> Any:
    """A faust Worker for ``app`` that exits at most ``grace_s`` after SIGTERM (``os._exit(0)`` if its orderly
    stop takes longer), and leaves the root logger at the configured level (workaround 7)."""
    import threading

    import faust

    class PromptWorker(faust.Worker):
        def on_setup_root_logger(self, logger: Any, level: int) -> None:
            """No terminal spinner: to spin on every log record, faust lowers the root logger to DEBUG, and
            then every debug call of aiokafka and faust builds a record (4 % of the worker's CPU, profiled)."""
            self.spinner = None

        def _on_sigterm(self) -> None:
            timer = threading.Timer(grace_s, os._exit, (0,))
            timer.daemon = True
            timer.start()
            super()._on_sigterm()

    return PromptWorker(app, **kwargs)


class RestartRequired(RuntimeError):
    """faust waits for a run whose state is not whole (a revoke during a recovery): restart the worker."""


def _revoking(app: Any) -> bool:
    """faust is waiting for the runs in flight (a revoke, its ``wait_empty``, or a stop)."""
    from faust.transport.consumer import CONSUMER_PARTITIONS_REVOKED, CONSUMER_WAIT_EMPTY

    flags = app.consumer.diag.flags
    return CONSUMER_PARTITIONS_REVOKED in flags or CONSUMER_WAIT_EMPTY in flags or bool(app.should_stop)


async def wait_for_table_recovery(app: Any) -> None:
    """Return when a run may be processed against the tables; never wait while faust waits for this run.

    Before a revoke, a run's partitions' tables are whole unless a recovery is under way. Otherwise (a start, or
    just after an assignment) wait until the recovery is complete and the rebalance over; the messages handed out
    early are read again after it and are then duplicates. If faust starts a revoke meanwhile, or the run is
    held by a revoke while a recovery is unfinished, raise ``RestartRequired``: nothing of the run is
    acknowledged and a restarted worker reads it again."""
    recovery = app.tables.recovery
    if _revoking(app):
        if recovery.completed.is_set() and not app.in_recovery:
            return
        raise RestartRequired("a revoke waits for a run whose tables are still recovering")
    while not recovery.completed.is_set() or app.in_recovery or app.rebalancing:
        if _revoking(app):
            raise RestartRequired("a revoke started while this run waited for the table recovery")
        await asyncio.sleep(0.02)


async def send_changelog_awaiting_acks(table: Any, records: Iterable[tuple[bytes, bytes]]) -> list[Any]:
    """Send ``(key, JSON bytes)`` changelog records of ``table`` and wait until the broker has acknowledged
    them; their ``RecordMetadata`` (topic partition, offset) in order.

    Setting ``table[key]`` only queues the changelog record, and faust's pre-commit flush gives up after
    0.1 s of no progress, so an offset could be committed while the state it depends on was still in the
    producer's buffer; a SIGKILL then left the recovered state older than the committed offsets.

    The records go to the app's producer directly, partitioned by its partitioner (the table uses it:
    ``use_partitioner``): faust's own path (``send_changelog``: a future message, a buffer, per-record sensors
    and debug logging) was a fifth of the profile agent's time, and its one effect after the send, the
    store's ``set_persisted_offset``, is a no-op on both stores the agents use (the disk store writes its
    offsets with its rows)."""
    producer = await table.app.maybe_start_producer()
    topic = table.changelog_topic.get_topic_name()
    futures = [await producer.send(topic, k, raw, table.partition_for_key(k), None, None) for k, raw in records]
    return [await fut for fut in futures]


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
        acks_enabled = self.app.topics.acks_enabled_for
        stale = False
        try:
            async for tp, message in batch:
                if not stale and getattr(self, "_stir_seeks", 0) != self._stir_batch_seeks:
                    log.info("a seek happened since this batch was fetched; its stream records are dropped")
                    stale = True
                if stale and acks_enabled(tp.topic):
                    continue
                # Changelog records always go on: the table recovery reads them, and their partitions have no
                # committed offsets to seek back to (dropping them once left a recovery waiting for ever).
                yield tp, message
        finally:
            await batch.aclose()
        if stale:
            # The fetch may have moved the stream partitions past the seek's target (it returned records from
            # there, dropped above): seek again. Nothing of them was delivered since the seek (this batch is the
            # first handed out after it), so the committed offsets are the place.
            await self.perform_seek()

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
