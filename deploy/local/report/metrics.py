"""`stir report`'s live figures: every pipeline process's ``/metrics`` (the counters Prometheus scrapes) sampled
over a window, turned into events/s per stage (ingest API, each agent, the warehouse's intake) and consumer lag."""

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


def _rate(a: dict[str, Sample], b: dict[str, Sample], dt: float, process: str, name: str,
          where: Callable[[dict[str, str]], bool] = lambda _l: True, agent: str | None = None) -> float:  # fmt: skip
    """A counter's rate between two samples; NaN when either has nothing of the process."""
    if not a.get(process) or not b.get(process):
        return float("nan")
    by = "agent" if agent is not None else None
    va = total(a[process], name, where, by).get(agent or "", 0.0)
    vb = total(b[process], name, where, by).get(agent or "", 0.0)
    return max(vb - va, 0) / dt


def derive(samples: list[tuple[float, dict[str, Sample]]]) -> dict[str, Series]:
    """Rates between consecutive samples and lag at each; NaN where a process did not answer (a rate over a missed
    scrape would count its whole total at once)."""
    nan = float("nan")
    accepted = lambda d: d.get("outcome") == "accepted"  # noqa: E731
    agents = sorted({a for _, snap in samples for a in total(snap.get("worker", {}), "stir_streams_events_in_total",
                                                              by="agent")})  # fmt: skip
    throughput, lag = Series(), Series()
    for (t0, a), (t1, b) in itertools.pairwise(samples):
        dt = max(t1 - t0, 1e-6)
        throughput.t.append(t1)

        throughput.lines["ingest API"].append(_rate(a, b, dt, "ingest", "stir_ingest_events_total", accepted))
        for agent in agents:
            got = _rate(a, b, dt, "worker", "stir_streams_events_in_total", agent=agent)
            throughput.lines[f"agent {agent}"].append(got)
        throughput.lines["warehouse"].append(_rate(a, b, dt, "warehouse", "stir_ch_kafka_rows_total"))
    for t, snap in samples:
        lag.t.append(t)
        for line, process, name in (("Faust worker", "worker", "stir_streams_consumer_lag"),
                                    ("warehouse", "warehouse", "stir_ch_kafka_lag_messages")):  # fmt: skip
            lag.lines[line].append(sum(total(snap[process], name).values()) if snap.get(process) else nan)
    # a line that never moved says nothing: keep the stages that did work in the window
    throughput.lines = defaultdict(list, {k: v for k, v in throughput.lines.items() if any(x > 0 for x in v)})
    return {"throughput": throughput, "lag": lag}
