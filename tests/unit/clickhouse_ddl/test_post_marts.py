"""The post ranker, the story reach, the profile page's audience, the trending posts and the genre overview, run by
embedded ClickHouse over the agents' rows and the raw snapshots and readings of a workload spanning 2023-11-22
(both reach formulas), equal the plain-Python oracles (in a child process)."""

from __future__ import annotations

from tests.support.chdb_check import run_check


def test_post_marts_equal_oracle(tmp_path):
    report = run_check("tests.support.post_marts_check", tmp_path / "chdb")
    assert report["post_ranks"]["rows"] > 1000
    assert report["estimated_before_switch"]["rows"] >= 5 and report["estimated_after_switch"]["rows"] >= 5
    # both windows, groups cut at the top 10, posts new in a window, audiences cut to the 5 largest shares
    assert report["trending_24h"]["rows"] >= 20 and report["trending_7d"]["rows"] >= 20
    assert report["trending_cut"]["rows"] >= 2 and report["new_in_window"]["rows"] >= 5
    assert report["audience_top_cut"]["rows"] >= 5 and report["genre_overview"]["rows"] >= 20
