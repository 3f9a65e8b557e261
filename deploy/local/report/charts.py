"""`stir report`'s charts, drawn once with matplotlib and written as PNG files and as inline SVG for the HTML page.

- ``throughput``: events/s per stage (ingest API, each agent, the warehouse's intake) over the window;
- ``lag``: the Faust worker's consumer lag and the warehouse's;
- ``freshness``: each probe's commit → ClickHouse row and commit → serving row;
- ``top_movers``: the current month's biggest climbers of the global followers leaderboard, by handle.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploy.local.report.metrics import Series
from deploy.local.report.probes import Probe, percentile
from deploy.local.report.warehouse import mover_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAMES = ("throughput", "lag", "freshness", "top_movers")


@dataclass
class Chart:
    name: str
    title: str
    figure: Figure
    series: dict[str, int]  # what it draws, in order: label -> points; drawn as SVG groups series-0, series-1, ...

    def png(self, out: Path) -> Path:
        path = out / f"{self.name}.png"
        self.figure.savefig(path, dpi=110)
        return path

    def svg(self) -> str:
        buf = io.StringIO()
        self.figure.savefig(buf, format="svg")
        text = buf.getvalue()
        return text[text.index("<svg") :]  # inline: without the XML declaration and doctype


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in the page
    import matplotlib.pyplot as plt

    return plt


def freshness_figures(probes: list[Probe]) -> dict[str, float | int | None]:
    """p50/p95 of commit → ClickHouse row and → serving row, in ms, and how many probes arrived."""
    ch = [p.to_clickhouse_ms for p in probes if p.to_clickhouse_ms is not None]
    serving = [p.to_serving_ms for p in probes if p.to_serving_ms is not None]
    return {"probes": len(probes), "arrived_clickhouse": len(ch), "arrived_serving": len(serving),
            "clickhouse_p50_ms": percentile(ch, 50), "clickhouse_p95_ms": percentile(ch, 95),
            "serving_p50_ms": percentile(serving, 50), "serving_p95_ms": percentile(serving, 95)}  # fmt: skip


def _ms(v: float | int | None) -> str:
    return "-" if v is None else f"{v:,.0f} ms"


def charts(series: dict[str, Series], probes: list[Probe], movers: list[tuple[Any, ...]]) -> list[Chart]:
    plt = _plt()
    out = []

    def lines(s: Series, name: str, title: str, ylabel: str) -> None:
        fig, ax = plt.subplots(figsize=(9, 4.2))
        drawn = {}
        for i, (label, ys) in enumerate(sorted(s.lines.items())):
            ax.plot(s.t[: len(ys)], ys, label=label, linewidth=1.6, gid=f"series-{i}")
            drawn[label] = len(ys)
        ax.set_title(title)
        ax.set_xlabel("seconds into the window")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if s.lines:
            ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        out.append(Chart(name, title, fig, drawn))

    lines(series["throughput"], "throughput", "Throughput per stage", "events / s")
    lines(series["lag"], "lag", "Consumer lag", "messages")

    fig, ax = plt.subplots(figsize=(9, 4.2))
    f = freshness_figures(probes)
    drawn = {}
    paths = (("commit → ClickHouse row", "to_clickhouse_ms"), ("commit → serving row", "to_serving_ms"))
    for i, (label, attr) in enumerate(paths):
        pts = [(p.at_s, getattr(p, attr)) for p in probes if getattr(p, attr) is not None]
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", linewidth=1.2, label=label, gid=f"series-{i}")
        drawn[label] = len(pts)
    title = (f"Freshness: PostgreSQL commit → ClickHouse p50 {_ms(f['clickhouse_p50_ms'])}, "
             f"p95 {_ms(f['clickhouse_p95_ms'])}; → serving p50 {_ms(f['serving_p50_ms'])}")  # fmt: skip
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("probe committed, seconds into the window")
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out.append(Chart("freshness", "Freshness: PostgreSQL commit → ClickHouse row and → serving row", fig, drawn))

    fig, ax = plt.subplots(figsize=(9, 4.2))
    labels = [mover_label(r[0], r[1], r[2], r[4]) for r in movers]
    for j, bar in enumerate(ax.barh(labels[::-1], [r[3] for r in movers][::-1], color="#3b7dd8")):
        bar.set_gid(f"series-0-{j}")
    title = "Top movers: global followers leaderboard, this month (ranks climbed)"
    fig.suptitle(title)  # across the figure: the labels take the left of the axes
    ax.set_xlabel("ranks climbed since last month")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.append(Chart("top_movers", title, fig, {"ranks climbed": len(movers)}))
    return out


def close(drawn: list[Chart]) -> None:
    plt = _plt()
    for c in drawn:
        plt.close(c.figure)
