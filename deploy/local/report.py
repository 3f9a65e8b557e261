"""``stir report``: the key panels as PNG charts from the live stack, for people without Grafana at hand.

It samples every pipeline process's ``/metrics`` for a window (the same counters Prometheus scrapes) and
queries the warehouse, then draws:
- ``throughput.png``: events/s per stage (ingest API, each agent, warehouse bridge) over the window;
- ``lag.png``: the Faust worker's consumer lag and the bridge's lag;
- ``freshness.png``: event time → agent output p50/p95 per sample interval (from the latency histogram), and
  event time → ClickHouse row p50/p95 per minute over the last hour (profile_rolling);
- ``top_movers.png``: the current month's biggest climbers of the global followers leaderboard, by handle.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Sample = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Series:
    """Values over the window: times (s since the first sample) and one list per line."""

    t: list[float] = field(default_factory=list)
    lines: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def scrape(url: str) -> Sample:
    out: Sample = {}
    text = httpx.get(url, timeout=5).text
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def total(sample: Sample, name: str, where: Callable[[dict[str, str]], bool] = lambda _l: True,
          by: str | None = None) -> dict[str, float]:  # fmt: skip
    acc: dict[str, float] = defaultdict(float)
    for (n, labels), v in sample.items():
        d = dict(labels)
        if n == name and where(d):
            acc[d.get(by, "") if by else ""] += v
    return dict(acc)


def quantile_from_buckets(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile over cumulative bucket counts (le -> count)."""
    items = sorted(buckets.items())
    if not items or items[-1][1] <= 0:
        return None
    rank = q * items[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in items:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-12)
        prev_le, prev_count = le, count
    return prev_le


def sample_window(urls: dict[str, str], window_s: float, every_s: float,
                  tick: Callable[[], None] = lambda: None) -> list[tuple[float, dict[str, Sample]]]:  # fmt: skip
    samples = []
    t0 = time.monotonic()
    while True:
        now = time.monotonic()
        snap = {}
        for name, url in urls.items():
            try:
                snap[name] = scrape(url)
            except httpx.HTTPError:
                snap[name] = {}
        samples.append((now - t0, snap))
        tick()
        if now - t0 >= window_s:
            return samples
        time.sleep(max(0.0, every_s - (time.monotonic() - now)))


def derive(samples: list[tuple[float, dict[str, Sample]]]) -> dict[str, Series]:
    throughput, lag, fresh = Series(), Series(), Series()
    for (t0, a), (t1, b) in itertools.pairwise(samples):
        dt = max(t1 - t0, 1e-6)
        throughput.t.append(t1)
        ing_a = sum(
            total(a.get("ingest", {}), "stir_ingest_events_total", lambda d: d.get("outcome") == "accepted").values()
        )
        ing_b = sum(
            total(b.get("ingest", {}), "stir_ingest_events_total", lambda d: d.get("outcome") == "accepted").values()
        )
        throughput.lines["ingest API"].append(max(ing_b - ing_a, 0) / dt)
        per_a = total(a.get("worker", {}), "stir_streams_events_in_total", by="agent")
        for agent, v in total(b.get("worker", {}), "stir_streams_events_in_total", by="agent").items():
            throughput.lines[f"agent {agent}"].append(max(v - per_a.get(agent, 0.0), 0) / dt)
        br_a = sum(total(a.get("warehouse", {}), "stir_bridge_rows_total").values())
        br_b = sum(total(b.get("warehouse", {}), "stir_bridge_rows_total").values())
        throughput.lines["warehouse bridge"].append(max(br_b - br_a, 0) / dt)
        fresh.t.append(t1)
        ba = total(a.get("worker", {}), "stir_streams_processing_latency_seconds_bucket", by="le")
        bb = total(b.get("worker", {}), "stir_streams_processing_latency_seconds_bucket", by="le")
        delta = {float(le): bb[le] - ba.get(le, 0.0) for le in bb}
        for q, label in ((0.5, "agents p50"), (0.95, "agents p95")):
            got = quantile_from_buckets(delta, q)
            fresh.lines[label].append(float("nan") if got is None else got)
    for t, snap in samples:
        lag.t.append(t)
        lag.lines["Faust worker"].append(sum(total(snap.get("worker", {}), "stir_streams_consumer_lag").values()))
        lag.lines["warehouse bridge"].append(sum(total(snap.get("warehouse", {}), "stir_bridge_lag_messages").values()))
    # a line that never moved says nothing: keep the stages that did work in the window
    throughput.lines = defaultdict(list, {k: v for k, v in throughput.lines.items() if any(v)})
    return {"throughput": throughput, "lag": lag, "freshness": fresh}


MOVERS = """
SELECT l.profile_id, l.platform, ifNull(h.handle, '') AS handle, l.prev_rank - l.rank AS climbed, l.rank
FROM leaderboard_monthly AS l
LEFT JOIN (SELECT profile_id, platform, argMaxMerge(handle) AS handle FROM profile_handle
           GROUP BY profile_id, platform) AS h ON h.profile_id = l.profile_id AND h.platform = l.platform
WHERE l.month = (SELECT max(month) FROM leaderboard_monthly) AND l.scope = 'global' AND l.metric = 'followers'
  AND l.prev_rank IS NOT NULL
ORDER BY climbed DESC, l.rank, l.platform
LIMIT 10
"""


def mover_label(profile_id: str, platform: str, handle: str, rank: int) -> str:
    """A mover as people know it: its handle (its id until a snapshot named it), platform and rank."""
    return f"{'@' + handle if handle else profile_id} ({platform}, now #{rank})"


def warehouse_figures(query: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The warehouse's figures of the report; ``query`` runs one SELECT and returns its rows."""
    fresh = query(
        "SELECT toStartOfMinute(inserted_at) AS minute, "
        "quantile(0.5)(dateDiff('millisecond', event_time, inserted_at)) / 1000 AS p50, "
        "quantile(0.95)(dateDiff('millisecond', event_time, inserted_at)) / 1000 AS p95 "
        "FROM profile_rolling WHERE inserted_at > now() - INTERVAL 1 HOUR "
        "AND event_time > inserted_at - INTERVAL 5 MINUTE "  # live changes only: a backfill's history shows its age
        "GROUP BY minute ORDER BY minute")  # fmt: skip
    return {"movers": [tuple(r) for r in query(MOVERS)], "ch_freshness": [tuple(r) for r in fresh]}


def render(series: dict[str, Series], wh: dict[str, list[tuple[Any, ...]]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def lines(s: Series, title: str, ylabel: str, name: str) -> None:
        fig, ax = plt.subplots(figsize=(9, 4.2))
        for label, ys in sorted(s.lines.items()):
            ax.plot(s.t[: len(ys)], ys, label=label, linewidth=1.6)
        ax.set_title(title)
        ax.set_xlabel("seconds into the window")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if s.lines:
            ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        paths.append(out / name)

    lines(series["throughput"], "Throughput per stage", "events / s", "throughput.png")
    lines(series["lag"], "Consumer lag", "messages", "lag.png")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    fr = series["freshness"]
    for label, ys in sorted(fr.lines.items()):
        a1.plot(fr.t[: len(ys)], ys, label=label, linewidth=1.6)
    a1.set_title("Event time → agent output (backfilled history shows its age)", fontsize=10)
    a1.set_xlabel("seconds into the window")
    a1.set_ylabel("seconds (log)")
    if any(v > 0 for ys in fr.lines.values() for v in ys if v == v):
        a1.set_yscale("log")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    rows = wh.get("ch_freshness", [])
    if rows:
        a2.plot([r[0] for r in rows], [r[1] for r in rows], label="p50", linewidth=1.6)
        a2.plot([r[0] for r in rows], [r[2] for r in rows], label="p95", linewidth=1.6)
        a2.legend(fontsize=8)
        a2.tick_params(axis="x", labelrotation=30, labelsize=7)
    a2.set_title("Live changes: event time → ClickHouse row (profiles, last hour)", fontsize=10)
    a2.set_ylabel("seconds")
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "freshness.png", dpi=110)
    plt.close(fig)
    paths.append(out / "freshness.png")

    fig, ax = plt.subplots(figsize=(9, 4.2))
    movers = wh.get("movers", [])
    ax.barh([mover_label(r[0], r[1], r[2], r[4]) for r in movers][::-1], [r[3] for r in movers][::-1], color="#3b7dd8")
    ax.set_title("Top movers: global followers leaderboard, this month (ranks climbed)")
    ax.set_xlabel("ranks climbed since last month")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "top_movers.png", dpi=110)
    plt.close(fig)
    paths.append(out / "top_movers.png")
    return paths
