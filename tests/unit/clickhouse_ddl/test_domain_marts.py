"""The hiring and activity marts, run by embedded ClickHouse over the agents' rows and the raw events, equal the
plain-Python oracle (in a child process: chdb keeps one data path per process)."""

from __future__ import annotations

from tests.support.chdb_check import run_check


def test_domain_marts_equal_oracle(tmp_path):
    report = run_check("tests.support.domain_marts_check", tmp_path / "chdb", timeout_s=300)
    assert report["duplicates_flagged"]["rows"] > 0
