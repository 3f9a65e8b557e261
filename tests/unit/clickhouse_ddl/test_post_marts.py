"""The post ranker and the story reach, run by embedded ClickHouse over the agents' rows and the raw snapshots of a
workload spanning 2023-11-22 (both reach formulas), equal the plain-Python oracle (in a child process)."""

from __future__ import annotations

from tests.support.chdb_check import run_check


def test_post_ranks_and_story_reach_equal_oracle(tmp_path):
    report = run_check("tests.support.post_marts_check", tmp_path / "chdb")
    assert report["post_ranks"]["rows"] > 1000
    assert report["estimated_before_switch"]["rows"] >= 5 and report["estimated_after_switch"]["rows"] >= 5
