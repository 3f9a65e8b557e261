"""`stir report --html`: one self-contained page (no script, no remote asset) with the report's figures and its
charts as inline SVG. The figures are also embedded as JSON (``<script type="application/json" id="report-data">``)
for tools that read the page."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from deploy.local.report.charts import Chart, charts, close, freshness_figures
from deploy.local.report.metrics import Series
from deploy.local.report.probes import Probe
from deploy.local.report.warehouse import mover_label

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #1d2430; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } .meta { color: #5b6472; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; } td, th { padding: 0.25rem 0.8rem; text-align: left; }
th { border-bottom: 1px solid #c8ced8; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure.chart { margin: 0 0 2rem; } figure.chart svg { width: 100%; height: auto; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
"""


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return escape(str(v))


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if isinstance(v, int | float) else ""}">{_cell(v)}</td>' for v in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def page(drawn: list[Chart], figures: dict[str, Any], generated: datetime, window_s: float) -> str:
    """``figures``: ``freshness`` (see charts.freshness_figures), ``throughput`` (stage -> mean events/s),
    ``lag`` (line -> max messages), ``movers`` (the warehouse's rows)."""
    fresh = figures.get("freshness", {})
    freshness = _table(
        ("path", "probes arrived", "p50 ms", "p95 ms"),
        [("PostgreSQL commit → ClickHouse row", fresh.get("arrived_clickhouse", 0), fresh.get("clickhouse_p50_ms"),
          fresh.get("clickhouse_p95_ms")),
         ("PostgreSQL commit → serving row", fresh.get("arrived_serving", 0), fresh.get("serving_p50_ms"),
          fresh.get("serving_p95_ms"))],
    )  # fmt: skip
    throughput = _table(("stage", "mean events/s"), sorted(figures.get("throughput", {}).items()))
    lag = _table(("consumer", "max lag (messages)"), sorted(figures.get("lag", {}).items()))
    movers = _table(("profile", "ranks climbed"),
                    [(mover_label(r[0], r[1], r[2], r[4]), r[3]) for r in figures.get("movers", [])])  # fmt: skip
    sections = "".join(
        f'<figure class="chart" data-chart="{escape(c.name)}" data-series="{escape(json.dumps(c.series))}">'
        f'<figcaption class="visually-hidden">{escape(c.title)}</figcaption>{c.svg()}</figure>'
        for c in drawn
    )
    # nothing of the data can end or comment out the element: <, > and & as JSON escapes
    data = json.dumps(figures, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stir Stream report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
<h1>Stir Stream report</h1>
<p class="meta">{escape(generated.isoformat(timespec="seconds"))}, a {window_s:.0f}-second window of the live stack</p>
<h2>Freshness</h2>{freshness}
<h2>Throughput</h2>{throughput}
<h2>Lag</h2>{lag}
<h2>Top movers</h2>{movers}
{sections}
<script type="application/json" id="report-data">{data}</script>
</body></html>
"""


def summary(series: dict[str, Series], probes: list[Probe], movers: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The page's figures: freshness from the probes, mean throughput and max lag per line over the window."""
    tp = series["throughput"].lines
    return {"freshness": freshness_figures(probes),
            "throughput": {k: round(sum(x) / len(x), 1) for k, v in tp.items() if (x := _known(v))},
            "lag": {k: max(x) for k, v in series["lag"].lines.items() if (x := _known(v))},
            "movers": [list(r) for r in movers],
            "probes": [asdict(p) for p in probes]}  # fmt: skip


def _known(values: list[float]) -> list[float]:
    return [v for v in values if v == v]  # NaN: a sample the process did not answer


def write(out: Path, series: dict[str, Series], probes: list[Probe], movers: list[tuple[Any, ...]],
          html: bool, window_s: float) -> list[Path]:  # fmt: skip
    """The PNG charts into ``out``, and ``report.html`` there too with ``html``."""
    out.mkdir(parents=True, exist_ok=True)
    drawn = charts(series, probes, movers)
    try:
        paths = [c.png(out) for c in drawn]
        if html:
            path = out / "report.html"
            path.write_text(page(drawn, summary(series, probes, movers), datetime.now(UTC), window_s))
            paths.append(path)
        return paths
    finally:
        close(drawn)
