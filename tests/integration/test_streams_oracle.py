"""Oracle tests on a real broker and a real Faust worker: the final output rows (newest version per key,
as ReplacingMergeTree keeps them) equal the independent oracle, also with the worker SIGKILLed and
restarted mid-stream."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from deploy.local.process import wait_until
from schemas.kafka import ensure_topics
from streams.app import inputs as stream_inputs
from streams.app import topics as stream_topics
from streams.settings import StreamsSettings
from tests.support import oracle
from tests.support.kafka import delete_topics, produce_messages, read_lines
from tests.support.stream_sim import KEY_FIELDS, Reduced, messages
from tests.support.streams_worker import Worker, group_lag
from tests.support.workload import HOUR, generate
from tests.unit.test_stream_oracle import SKIP, assert_rows_equal

pytestmark = pytest.mark.integration

OUTPUTS = list(KEY_FIELDS)


@pytest.fixture(scope="module")
def workload():
    # the scale: 200 profiles x 120 days of snapshots, 5,000 posts, scrape requests, CDC rows
    return generate(profiles=200, days=120, posts_per_profile=25, seed=23, collections=60, post_rows=True)


def _read_outputs(bootstrap: str, prefix: str) -> Reduced:
    reduced = Reduced()
    read_lines(bootstrap, prefix, OUTPUTS, lambda name, line: reduced.add(name, KEY_FIELDS[name], line))
    return reduced


def assert_outputs_equal_the_oracle(bootstrap: str, prefix: str, workload: Any, now: int) -> None:
    """The final output rows under ``prefix`` (newest version per key) equal the oracle's, with no conflicts."""
    reduced = _read_outputs(bootstrap, prefix)
    expected = oracle.compute(workload, now)
    assert not reduced.conflicts, reduced.conflicts[:5]
    for topic in OUTPUTS:
        assert_rows_equal(expected[topic], reduced.rows[topic], topic)


@dataclass
class OracleRun:
    """One oracle run's names, topics (created), input messages and the workers' environment."""

    prefix: str
    app_id: str
    now: int
    settings: StreamsSettings
    msgs: list[Any]
    inputs: list[str]
    env: dict[str, str]


def oracle_run(bootstrap: str, tag: str, uid: str, workload: Any, max_rows: int, **env: str) -> OracleRun:
    """Topics under ``<tag><uid>.`` created, the workload as messages of ``max_rows`` rows, and the workers'
    environment (the clock pinned after the workload; ``env``: more ``STIR_*`` values)."""
    prefix, app_id = f"{tag}{uid}.", f"{tag}-{uid}"
    now = workload.end_ms + 2 * HOUR
    settings = StreamsSettings(topic_prefix=prefix, app_id=app_id, allowed_lateness_ms=workload.lateness_ms)
    ensure_topics(bootstrap, stream_topics(settings), settings.partitions)
    base = {"STIR_TOPIC_PREFIX": prefix, "STIR_STREAMS_APP_ID": app_id, "STIR_STREAMS_CLOCK_MS": str(now),
            "STIR_STREAMS_ALLOWED_LATENESS_MS": str(workload.lateness_ms), "STIR_STREAMS_REFRESH_INTERVAL_S": "3600",
            "STIR_STREAMS_COMMIT_INTERVAL_S": "0.5"}  # fmt: skip
    return OracleRun(prefix, app_id, now, settings, messages(workload, settings.partitions, max_rows=max_rows),
                     stream_inputs(settings), {**base, **env})  # fmt: skip


def _run(stack, tmp_path, uid, workload, kill_midway: bool, store: str = "disk") -> None:
    run = oracle_run(stack.bootstrap, "so", uid, workload, 500, STIR_STREAMS_STORE=store)
    prefix, app_id, now, settings, msgs, inputs = run.prefix, run.app_id, run.now, run.settings, run.msgs, run.inputs
    worker = Worker(tmp_path, run.env)
    try:
        half = len(msgs) // 2
        produce_messages(stack.bootstrap, prefix, msgs[:half])
        worker.start()
        if kill_midway:
            # kill -9 once it has committed part of the first half, while the second half is arriving
            def progressed() -> bool:
                lag = group_lag(stack.bootstrap, app_id, inputs[:6])
                return lag is not None and lag < half

            assert wait_until(lambda: not worker.alive() or progressed(), 120, 0.5), "worker made no progress"
            assert worker.alive(), worker.log.read_text()[-3000:]
            produce_messages(stack.bootstrap, prefix, msgs[half : half + half // 2])
            worker.kill9()
            produce_messages(stack.bootstrap, prefix, msgs[half + half // 2 :])
            worker.start()
        else:
            produce_messages(stack.bootstrap, prefix, msgs[half:])
        t0 = time.monotonic()
        done = wait_until(lambda: not worker.alive() or group_lag(stack.bootstrap, app_id, inputs) == 0, 300, 1.0)
        assert done and worker.alive(), f"worker did not catch up: {worker.log.read_text()[-3000:]}"
        elapsed = time.monotonic() - t0
        assert_outputs_equal_the_oracle(stack.bootstrap, prefix, workload, now)
        print(f"caught up in {elapsed:.1f}s after the last produce; starts={worker.starts}")
    finally:
        worker.stop()
        delete_topics(stack.bootstrap, [*stream_topics(settings)])


def test_worker_output_equals_oracle(stack, tmp_path, uid, workload):
    _run(stack, tmp_path, uid, workload, kill_midway=False)


@pytest.mark.faults
@pytest.mark.parametrize("store", ["disk", "memory"])
def test_worker_sigkill_mid_stream_still_equals_oracle(stack, tmp_path, uid, workload, store):
    """After a SIGKILL the worker restarts from its committed offsets and its tables (the disk checkpoint plus
    the changelog since, or the whole changelog on the memory store); the final rows still equal the oracle.
    (This found several faust-streaming issues: see ``streams/faust_fixes.py``.)"""
    _run(stack, tmp_path, uid, workload, kill_midway=True, store=store)


def test_refresh_requests_equal_the_scope_oracle(stack, tmp_path, uid, workload):
    """The refresh timer of a real worker, over the tables the workload left (the posts agent fed by the posts CDC
    and, beside the memberships agent, by the collection items): one request per post in the scope, none
    outside it, in rounds of at most the limit."""
    import json

    run = oracle_run(stack.bootstrap, "sr", uid, workload, 500)
    expected = oracle.refresh_eligible(workload, oracle.compute(workload, run.now), run.now)
    assert len(expected) > 20
    worker = Worker(tmp_path, run.env)
    requests: list[dict[str, Any]] = []
    try:
        produce_messages(stack.bootstrap, run.prefix, run.msgs)
        worker.start()
        caught_up = wait_until(lambda: not worker.alive() or group_lag(stack.bootstrap, run.app_id, run.inputs) == 0,
                               300, 1.0)  # fmt: skip
        assert caught_up and worker.alive(), worker.log.read_text()[-3000:]
        worker.stop()  # the timers start after the tables recovered: restart with a short interval
        worker.env |= {"STIR_STREAMS_REFRESH_INTERVAL_S": "1", "STIR_STREAMS_REFRESH_MAX_PER_INTERVAL": "10"}
        worker.start()

        def read() -> int:
            requests.clear()
            read_lines(stack.bootstrap, run.prefix, ["social.scrape.request"], lambda _n, line: requests.append(
                json.loads(line)))  # fmt: skip
            return len(requests)

        assert wait_until(lambda: read() >= len(expected), 120, 1.0), (len(requests), worker.log.read_text()[-3000:])
        assert not wait_until(lambda: read() > len(expected), 5, 1.0)  # three more rounds: nothing more
    finally:
        worker.stop()
        delete_topics(stack.bootstrap, [*stream_topics(run.settings)])
    assert sorted(r["post_id"] for r in requests) == sorted(expected)
    codes = {str(r["post_id"]): r["shortcode"] for r in requests}
    assert all(r["flow"] == "refresh_post_by_shortcode" for r in requests)
    assert all(code and not code.isdigit() for code in codes.values())
    assert len({r["request_id"] for r in requests}) == len(requests)


def test_backfill_from_replay_files_equals_the_first_pass(stack, tmp_path, uid, workload):
    """Derived state wiped (a new worker, new tables, new output topics): the raw topics dumped with the replay
    tool and loaded into fresh topics give the same final rows as the first pass, and both equal the oracle."""
    from connectors.replay.dump import dump
    from connectors.replay.load import load

    first, second = f"bf{uid}.", f"bf2{uid}."
    now = workload.end_ms + 2 * HOUR
    raw = ["social.profile.snapshot", "social.post.snapshot", "social.scrape.status", "cdc.public.profiles",
           "cdc.public.scrape_requests", "cdc.public.collection_items"]  # fmt: skip
    settings = [StreamsSettings(topic_prefix=p, app_id=f"bf-{p}", allowed_lateness_ms=workload.lateness_ms)
                for p in (first, second)]  # fmt: skip
    results = []
    try:
        for n, s in enumerate(settings):
            ensure_topics(stack.bootstrap, stream_topics(s), s.partitions)
            if n == 0:
                produce_messages(stack.bootstrap, first, messages(workload, s.partitions, max_rows=500))
            else:  # the backfill: every raw topic through a replay file, partitions and order kept
                for name in raw:
                    f = tmp_path / f"{name}.avro"
                    dump(stack.bootstrap, first + name, f, 0, "now")
                    load(stack.bootstrap, f, second + name, preserve_partitions=True)
            worker = Worker(tmp_path / f"w{n}", {
                "STIR_TOPIC_PREFIX": s.topic_prefix, "STIR_STREAMS_APP_ID": s.app_id,
                "STIR_STREAMS_CLOCK_MS": str(now), "STIR_STREAMS_ALLOWED_LATENESS_MS": str(workload.lateness_ms),
                "STIR_STREAMS_REFRESH_INTERVAL_S": "3600"})  # fmt: skip
            (tmp_path / f"w{n}").mkdir()
            worker.start()
            try:
                inputs = stream_inputs(s)

                def caught_up(w: Worker = worker, group: str = s.app_id, topics: list[str] = inputs) -> bool:
                    return not w.alive() or group_lag(stack.bootstrap, group, topics) == 0

                assert wait_until(caught_up, 300, 1.0) and worker.alive(), worker.log.read_text()[-3000:]
            finally:
                worker.stop()
            results.append(_read_outputs(stack.bootstrap, s.topic_prefix))
        expected = oracle.compute(workload, now)
        for topic in OUTPUTS:
            # same rows; a row's version counts the changes applied to its key, and for post rows that depends on
            # how the internal topic interleaved with the snapshots in that run, so envelope fields are not compared
            assert {k: _content(r) for k, r in results[1].rows[topic].items()} == {
                k: _content(r) for k, r in results[0].rows[topic].items()}, topic  # fmt: skip
            assert_rows_equal(expected[topic], results[1].rows[topic], topic)
    finally:
        for s in settings:
            delete_topics(stack.bootstrap, stream_topics(s))


def _content(row: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in row.items() if k not in SKIP}


@pytest.mark.faults
def test_a_restart_reads_the_changelog_from_its_checkpoint_not_from_the_start(stack, tmp_path, uid, workload):
    """The disk store (``streams/store.py``): a worker SIGKILLed after catching up restarts from the state file,
    and its recovery applies (almost) none of the changelog records written before the kill (the memory store
    would apply every one); the state it resumes with is whole: the final rows equal the oracle."""
    import contextlib
    import sqlite3

    import httpx
    from confluent_kafka import Consumer, TopicPartition

    from tests.support.ingest_server import free_port

    port = free_port()
    run = oracle_run(
        stack.bootstrap, "ck", uid, workload, 500, STIR_STREAMS_METRICS_PORT=str(port), STIR_STREAMS_STORE="disk"
    )
    prefix, app_id, now, settings, msgs, inputs = run.prefix, run.app_id, run.now, run.settings, run.msgs, run.inputs
    worker = Worker(tmp_path, run.env)

    def caught_up() -> bool:
        return not worker.alive() or group_lag(stack.bootstrap, app_id, inputs) == 0

    def changelog_ends() -> dict[tuple[str, int], tuple[int, int]]:
        c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"ck-probe-{uid}"})
        try:
            return {(table, p): c.get_watermark_offsets(TopicPartition(f"{app_id}-{table}-changelog", p), 10)
                    for table in ("profiles", "posts") for p in range(settings.partitions)}  # fmt: skip
        finally:
            c.close()

    def checkpoints(table: str) -> dict[int, int]:
        [path] = (tmp_path / "state").rglob(f"{table}.sqlite3")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return dict(db.execute('SELECT part, "offset" FROM offsets').fetchall())

    def recovered() -> float | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None
        rows = [line for line in text.splitlines() if line.startswith("stir_streams_state_recovered_total{")]
        return sum(float(r.rsplit(" ", 1)[1]) for r in rows if 'table="profiles"' in r or 'table="posts"' in r)

    try:
        half = len(msgs) // 2
        produce_messages(stack.bootstrap, prefix, msgs[:half])
        worker.start()
        assert wait_until(caught_up, 300, 1.0) and worker.alive(), worker.log.read_text()[-3000:]
        worker.kill9()
        ends = changelog_ends()
        written = sum(high - low for low, high in ends.values())
        assert written > 1000, written  # a history worth checkpointing
        for table in ("profiles", "posts"):  # the file holds each partition's changelog up to its last record
            want = {p: high - 1 for (t, p), (_, high) in ends.items() if t == table and high > 0}
            assert checkpoints(table) == want, table
        produce_messages(stack.bootstrap, prefix, msgs[half:])
        worker.start()
        assert wait_until(caught_up, 300, 1.0) and worker.alive(), worker.log.read_text()[-3000:]
        applied = recovered()
        assert applied is not None, "the restarted worker serves no metrics"
        assert applied <= written * 0.01, f"the recovery applied {applied} of {written} changelog records"
        assert_outputs_equal_the_oracle(stack.bootstrap, prefix, workload, now)
        print(f"changelog records before the kill: {written}; applied by the restart's recovery: {applied}")
    finally:
        worker.stop()
        delete_topics(stack.bootstrap, [*stream_topics(settings)])
