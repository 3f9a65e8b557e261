"""The discovery profile, the leaderboard, the growth series and the insights, run by embedded ClickHouse over
the profile agent's rows and the raw events of 14 months, equal the plain-Python oracle (in a child process:
chdb keeps one data path per process)."""

from __future__ import annotations

from tests.support.chdb_check import run_check


def test_discovery_marts_equal_oracle(tmp_path):
    report = run_check("tests.support.discovery_marts_check", tmp_path / "chdb")
    assert report["months"]["rows"] >= 13
    assert report["previous_month_ranks"]["rows"] > 1000
