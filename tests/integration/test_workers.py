"""Three workers of one app on the real broker, under traffic: a worker joins, one is SIGKILLed, one stops cleanly,
each mid-stream. The final output rows equal the independent oracle, no worker restarted but by the designed
restart (a revoke during a table recovery), and the group never
wedges (no committed progress while input waits, for three session timeouts)."""

from __future__ import annotations

import threading
import time

import pytest

from deploy.local.process import wait_until
from streams.app import topics as stream_topics
from tests.support.kafka import delete_topics, produce_messages
from tests.support.streams_worker import Worker, group_lag
from tests.support.workload import generate

pytestmark = pytest.mark.integration
SESSION_TIMEOUT_S = 10.0


class Stalls:
    """Samples the group's lag; the longest time the lag stayed above zero without going down."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.args = (bootstrap, group, topics)
        self.longest = 0.0
        self.when = ""  # wall-clock start of the longest stall
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Stalls:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        best: int | None = None
        since = time.monotonic()
        while not self._stop.wait(0.25):
            try:
                lag = group_lag(*self.args)
            except Exception:  # a transient broker answer (a leader moving): sample again
                continue
            now = time.monotonic()
            if lag is None or lag == 0 or best is None or lag < best:
                best, since = lag, now
            elif now - since > self.longest:
                self.longest = now - since
                self.when = time.strftime("%H:%M:%S", time.localtime(time.time() - self.longest))


def test_three_workers_join_die_and_stop_mid_stream_and_equal_the_oracle(stack, tmp_path, uid):
    from tests.integration.test_streams_oracle import assert_outputs_equal_the_oracle, oracle_run

    workload = generate(profiles=120, days=120, posts_per_profile=12, seed=41, collections=30)
    run = oracle_run(stack.bootstrap, "mw", uid, workload, 200, STIR_STREAMS_SESSION_TIMEOUT_S=str(SESSION_TIMEOUT_S))
    prefix, app_id, now, settings, msgs, inputs = run.prefix, run.app_id, run.now, run.settings, run.msgs, run.inputs
    workers = [Worker(tmp_path / f"w{i}", run.env) for i in range(3)]
    for w in workers:
        w.workdir.mkdir()
    quarter = len(msgs) // 4
    steps: list[str] = []

    def step(name: str) -> None:
        steps.append(f"{name} {time.strftime('%H:%M:%S')}")

    def caught_up() -> bool:
        return wait_until(lambda: group_lag(stack.bootstrap, app_id, inputs) == 0, 180, 0.5)

    try:
        with Stalls(stack.bootstrap, app_id, inputs) as stalls:
            produce_messages(stack.bootstrap, prefix, msgs[:quarter])
            workers[0].start()
            workers[1].start()
            assert caught_up(), "two workers did not catch up"
            produce_messages(stack.bootstrap, prefix, msgs[quarter : 2 * quarter])
            step("join")
            workers[2].start()  # a join under traffic
            assert caught_up(), "no progress after the join"
            produce_messages(stack.bootstrap, prefix, msgs[2 * quarter : 3 * quarter])
            step("kill")
            workers[0].kill9()  # a crash under traffic
            assert caught_up(), "no progress after the kill"
            produce_messages(stack.bootstrap, prefix, msgs[3 * quarter :])
            t0 = time.monotonic()
            step("stop")
            workers[1].stop()  # a clean stop under traffic
            assert time.monotonic() - t0 < 15, "SIGTERM did not stop the worker promptly"
            assert caught_up(), f"the last worker did not catch up: {workers[2].log.read_text()[-3000:]}"
        # a revoke that finds a run's tables still recovering restarts that worker's Faust process by design (the
        # run is read again); at most one per rebalance step, and nothing else may restart a worker
        assert all(w.starts == 1 for w in workers)
        assert not [u for w in workers for u in w.unplanned_restarts()], [w.unplanned_restarts() for w in workers]
        assert sum(w.restarts() for w in workers) <= 3, [w.restarts() for w in workers]
        assert workers[2].alive(), workers[2].log.read_text()[-3000:]
        assert_outputs_equal_the_oracle(stack.bootstrap, prefix, workload, now)
        print(f"longest stall {stalls.longest:.1f}s from {stalls.when}; steps {steps}")
        # A wedge detector, not a speed target (the pauses' figures are `make bench`'s): a SIGKILLed member holds
        # its partitions until its session expires, then a rebalance and a recovery follow (12.9-20.2 s seen on
        # this box); the wedges this guards against lasted 30 s, 60 s and for good.
        assert stalls.longest < 3 * SESSION_TIMEOUT_S, f"the group stalled for {stalls.longest:.1f}s"
    finally:
        for w in workers:
            w.stop()
        delete_topics(stack.bootstrap, [*stream_topics(settings)])
