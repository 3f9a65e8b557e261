"""`stir report`'s arithmetic: rates between samples, the movers' query, percentiles of the probes."""

from __future__ import annotations

import math

from deploy.local.report.metrics import derive
from deploy.local.report.probes import percentile


def _sample(ingest: float, agent: float, warehouse: float, lag: float):
    worker = {("stir_streams_events_in_total", (("agent", "profiles"), ("topic", "x"))): agent,
              ("stir_streams_consumer_lag", (("partition", "0"), ("topic", "x"))): lag}  # fmt: skip
    return {
        "ingest": {("stir_ingest_events_total", (("outcome", "accepted"), ("type", "t"))): ingest},
        "worker": worker,
        "warehouse": {
            ("stir_ch_kafka_rows_total", ()): warehouse,
            ("stir_ch_kafka_lag_messages", (("partition", "0"), ("table", "t"), ("topic", "x"))): lag * 2,
        },
    }


def test_derive_turns_counters_into_rates_per_stage():
    a = _sample(100, 50, 10, 7)
    b = _sample(300, 250, 110, 3)
    series = derive([(0.0, a), (2.0, b)])
    tp = series["throughput"]
    assert tp.t == [2.0]
    assert tp.lines["ingest API"] == [100.0] and tp.lines["agent profiles"] == [100.0]
    assert tp.lines["warehouse"] == [50.0]
    assert series["lag"].lines["Faust worker"] == [7.0, 3.0]
    assert series["lag"].lines["warehouse"] == [14.0, 6.0]


def test_top_movers_come_from_the_leaderboard_labelled_by_their_newest_handle(tmp_path):
    """`stir report`'s movers query on embedded ClickHouse (a child process: chdb keeps one data path per
    process) over two months of snapshots: October's ranks a, b, c, d become d, c, a, b in November."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from deploy.local.report.warehouse import mover_label

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-m", "tests.support.report_check", str(tmp_path / "chdb")], cwd=root,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    movers = json.loads(out.stdout.strip().splitlines()[-1])
    # (profile, platform, handle, ranks climbed, rank now): d 4 -> 1, c 3 -> 2, a 1 -> 3, b 2 -> 4
    want = [("d", "instagram", "dee.new", 3, 1), ("c", "instagram", "cy", 1, 2), ("a", "instagram", "ada", -2, 3),
            ("b", "instagram", "bo", -2, 4)]  # fmt: skip
    assert [tuple(m) for m in movers] == want
    assert mover_label("d", "instagram", "dee.new", 1) == "@dee.new (instagram, now #1)"
    assert mover_label("x9", "youtube", "", 7) == "x9 (youtube, now #7)"


def test_percentiles_are_nearest_rank():
    xs = [float(x) for x in range(1, 101)]
    assert percentile(xs, 50) == 50.0 and percentile(xs, 95) == 95.0 and percentile(xs, 100) == 100.0
    assert percentile([7.0], 95) == 7.0 and percentile([3.0, 1.0], 50) == 1.0 and percentile([], 50) is None


def test_a_missed_scrape_is_a_gap_not_a_spike():
    a = _sample(100, 50, 10, 7)
    b = {**_sample(300, 250, 110, 3), "ingest": {}}  # the ingest API did not answer this time
    c = _sample(500, 450, 210, 0)
    d = _sample(700, 650, 310, 0)
    series = derive([(0.0, a), (2.0, b), (4.0, c), (6.0, d)])
    ingest = series["throughput"].lines["ingest API"]
    assert math.isnan(ingest[0]) and math.isnan(ingest[1]) and ingest[2] == 100.0  # not 200 at once
    assert series["throughput"].lines["agent profiles"] == [100.0, 100.0, 100.0]
    missing_worker = {**c, "worker": {}}
    lag = derive([(0.0, a), (2.0, missing_worker)])["lag"].lines["Faust worker"]
    assert lag[0] == 7.0 and math.isnan(lag[1])
