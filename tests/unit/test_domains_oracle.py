"""Hiring status and account security: the agents' batch logic equals the independent oracle, in arrival order,
in other interleavings of the topics, and with restarts that rebuild the event clocks and re-process messages."""

from __future__ import annotations

import pytest

from streams.settings import StreamsSettings
from tests.support import domains_oracle as oracle
from tests.support.domains_sim import simulate_domains
from tests.support.domains_workload import generate

ENVELOPE = {"event_id", "event_time", "ingested_at", "source", "schema_version"}


def assert_rows_equal(expected, got, topic: str) -> None:
    """Every key, every field (the version too) equal."""
    assert set(got) == set(expected), f"{topic}: keys differ: {sorted(set(got) ^ set(expected))[:5]}"
    for key, want in expected.items():
        row = {k: v for k, v in got[key].items() if k not in ENVELOPE}
        assert row == want, f"{topic} {key}: " + str({k: (row.get(k), v) for k, v in want.items() if row.get(k) != v})


@pytest.fixture(scope="module")
def workload():
    return generate(processes=300, users=150, seed=5)


def _expected(w, s: StreamsSettings):
    return oracle.expected(w.hiring, w.logins, s, s.allowed_lateness_ms)


@pytest.mark.parametrize(
    ("max_rows", "seed", "restart_every"), [(1, None, 0), (100, None, 0), (100, 3, 0), (40, 4, 25)]
)
def test_domain_batches_match_oracle(workload, max_rows, seed, restart_every):
    s = StreamsSettings(allowed_lateness_ms=workload.lateness_ms)
    reduced = simulate_domains(workload.hiring + workload.logins, s, max_rows=max_rows, seed=seed,
                               restart_every=restart_every)  # fmt: skip
    hiring, security = _expected(workload, s)
    assert not reduced.conflicts, reduced.conflicts[:5]
    assert_rows_equal(hiring, reduced.rows["status.hiring.process"], "status.hiring.process")
    assert_rows_equal(security, reduced.rows["status.account.security"], "status.account.security")


def test_workload_exercises_every_rule(workload):
    """The oracle cases are not vacuous: every status, clock-driven change and drop happens."""
    s = StreamsSettings(allowed_lateness_ms=workload.lateness_ms)
    hiring, security = _expected(workload, s)
    statuses = {r["status"] for r in hiring.values()}
    assert statuses >= {
        "applied",
        "screening",
        "interviewing",
        "final_round",
        "offer",
        "rejected",
        "withdrawn",
        "ghosted",
    }
    assert any(r["version"] & 0xFFFE for r in hiring.values()), "no interview completed by the clock"
    assert {r["status"] for r in security.values()} == {"active", "suspicious"}
    assert any(r["version"] & 1 for r in security.values()), "no flag cleared by the clock alone"
    assert any(r["times_flagged"] > 1 for r in security.values())
    kept = sum(len(v) for v in oracle.accepted_logins(workload.logins, workload.lateness_ms).values())
    assert kept < len(workload.logins), "no duplicate or late attempt"
