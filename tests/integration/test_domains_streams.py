"""Hiring status and account security on a real broker and the real Faust worker: the final rows (newest
version per key) equal the independent oracle, with the topics' interleaving left to the consumer and the
worker SIGKILLed and restarted while the second half of the input arrives."""

from __future__ import annotations

import json

import pytest

from deploy.local.process import wait_until
from schemas.kafka import ensure_topics, partition_for
from streams.app import inputs as stream_inputs
from streams.app import topics as stream_topics
from streams.settings import StreamsSettings
from tests.support import domains_oracle as oracle
from tests.support.domains_sim import DOMAIN_KEYS, domain_messages
from tests.support.domains_workload import generate
from tests.support.kafka import delete_topics, produce_messages, read_lines
from tests.support.stream_sim import Reduced
from tests.support.streams_worker import Worker, group_lag
from tests.unit.test_domains_oracle import assert_rows_equal

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def read_rows(bootstrap: str, prefix: str, topics: list[str]) -> Reduced:
    reduced = Reduced()
    read_lines(bootstrap, prefix, topics, lambda name, line: reduced.add(name, DOMAIN_KEYS[name], line))
    return reduced


def test_domain_agents_survive_sigkill_and_equal_oracle(stack, tmp_path, uid):
    w = generate(processes=400, users=200, seed=29)
    prefix, app_id = f"dm{uid}.", f"dm-{uid}"
    s = StreamsSettings(topic_prefix=prefix, app_id=app_id, allowed_lateness_ms=w.lateness_ms)
    ensure_topics(stack.bootstrap, stream_topics(s), s.partitions)
    msgs = domain_messages(w.hiring + w.logins, s.partitions, max_rows=50)
    worker = Worker(tmp_path, {"STIR_TOPIC_PREFIX": prefix, "STIR_STREAMS_APP_ID": app_id,
                               "STIR_STREAMS_ALLOWED_LATENESS_MS": str(w.lateness_ms),
                               "STIR_STREAMS_REFRESH_INTERVAL_S": "3600", "STIR_STREAMS_COMMIT_INTERVAL_S": "0.5",
                               "STIR_STREAMS_TAKE_MAX_MESSAGES": "50"})  # fmt: skip
    inputs = [t for t in stream_inputs(s) if "hiring" in t or "processes" in t or "interviews" in t
              or "outcomes" in t or "job_positions" in t or "companies" in t or "auth.attempt" in t]  # fmt: skip
    try:
        half = len(msgs) // 2
        produce_messages(stack.bootstrap, prefix, msgs[:half])
        worker.start()

        def progressed() -> bool:
            lag = group_lag(stack.bootstrap, app_id, inputs)
            return lag is not None and lag < half * 2 // 3

        assert wait_until(lambda: not worker.alive() or progressed(), 120, 0.3), worker.log.read_text()[-3000:]
        assert worker.alive(), worker.log.read_text()[-3000:]
        produce_messages(stack.bootstrap, prefix, msgs[half : half + half // 2])
        worker.kill9()
        produce_messages(stack.bootstrap, prefix, msgs[half + half // 2 :])
        worker.start()
        done = wait_until(lambda: not worker.alive() or group_lag(stack.bootstrap, app_id, inputs) == 0, 300, 1.0)
        assert done and worker.alive(), f"worker did not catch up: {worker.log.read_text()[-3000:]}"
        outputs = ["status.hiring.process", "status.account.security", "dim.hiring.position", "dim.hiring.company"]
        reduced = read_rows(stack.bootstrap, prefix, outputs)
        assert not reduced.conflicts, reduced.conflicts[:5]
        hiring, security = oracle.expected(w.hiring, w.logins, s, w.lateness_ms)
        assert_rows_equal(hiring, reduced.rows["status.hiring.process"], "status.hiring.process")
        assert_rows_equal(security, reduced.rows["status.account.security"], "status.account.security")
        # dimension rows: the newest image of every position and company
        newest: dict[tuple[str, str], dict] = {}
        for topic, key, row in w.hiring:
            table = topic.rsplit(".", 1)[-1]
            if table in ("job_positions", "companies"):
                cur = newest.get((table, key))
                if cur is None or row["source"]["lsn"] > cur["source"]["lsn"]:
                    newest[(table, key)] = row
        for (table, key), row in newest.items():
            topic = "dim.hiring.position" if table == "job_positions" else "dim.hiring.company"
            got = reduced.rows[topic][key]
            assert got["version"] == row["source"]["lsn"] and got["deleted"] == (row["op"] == "d")
            if table == "job_positions":
                assert (got["company_id"], got["status"]) == (str(row["after"]["company_id"]), row["after"]["status"])
            else:
                assert got["name"] == row["after"]["name"]
        assert len(reduced.rows["dim.hiring.position"]) == sum(1 for t, _ in newest if t == "job_positions")
        assert worker.starts >= 2
        parts = sorted({partition_for(k.encode(), s.partitions) for k in hiring})
        print(json.dumps({"processes": len(hiring), "accounts": len(security), "starts": worker.starts,
                          "partitions": parts}))  # fmt: skip
    finally:
        worker.stop()
        delete_topics(stack.bootstrap, [*stream_topics(s)])
