"""`stir report`'s live figures: every pipeline process's ``/metrics`` (the counters Prometheus scrapes) sampled
over a window, turned into events/s per stage (ingest API, each agent, warehouse bridge) and consumer lag."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

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
    throughput, lag = Series(), Series()
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
    for t, snap in samples:
        lag.t.append(t)
        lag.lines["Faust worker"].append(sum(total(snap.get("worker", {}), "stir_streams_consumer_lag").values()))
        lag.lines["warehouse bridge"].append(sum(total(snap.get("warehouse", {}), "stir_bridge_lag_messages").values()))
    # a line that never moved says nothing: keep the stages that did work in the window
    throughput.lines = defaultdict(list, {k: v for k, v in throughput.lines.items() if any(v)})
    return {"throughput": throughput, "lag": lag}
