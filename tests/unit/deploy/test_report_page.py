"""`stir report --html`'s page: every chart inline, the figures in tables and as JSON, nothing of the data able to
become markup; and the page as headless Chromium lays it out (`make setup` installs Debian's Chromium)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from deploy.local.report.metrics import Series
from deploy.local.report.page import write
from deploy.local.report.probes import Probe
from tests.support.chromium import rendered_charts


def _series() -> dict[str, Series]:
    tp, lag = Series(), Series()
    tp.t = [1.0, 2.0, 3.0]
    tp.lines["ingest API"] = [100.0, 200.0, 300.0]
    tp.lines["agent profiles"] = [90.0, 210.0, 300.0]
    lag.t = [0.0, 1.0, 2.0, 3.0]
    lag.lines["Faust worker"] = [0.0, 40.0, 12.0, 0.0]
    return {"throughput": tp, "lag": lag}


PROBES = [Probe("7", 0.0, 3, 0.0, 420.0, 2100.0), Probe("8", 1.5, 1, 0.0, 610.0, 3900.0),
          Probe("9", 3.0, 0, 0.0, 380.0, None)]  # fmt: skip
MOVERS = [("41", "instagram", "<script>alert(1)</script>", 3, 1), ("42", "youtube", "", 1, 2)]


class _Charts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, str | None]] = []
        self.svgs = 0
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self.charts.append(dict(attrs))
        elif tag == "svg":
            self.svgs += 1
        elif tag == "script":
            self.scripts.append(dict(attrs))


def test_the_page_has_every_chart_the_figures_and_no_markup_from_the_data(tmp_path):
    paths = write(tmp_path, _series(), PROBES, MOVERS, html=True, window_s=3)
    assert sorted(p.name for p in paths) == ["freshness.png", "lag.png", "report.html", "throughput.png",
                                             "top_movers.png"]  # fmt: skip
    text = (tmp_path / "report.html").read_text()
    parsed = _Charts()
    parsed.feed(text)
    assert [c["data-chart"] for c in parsed.charts] == ["throughput", "lag", "freshness", "top_movers"]
    assert parsed.svgs == 4
    assert json.loads(parsed.charts[2]["data-series"] or "") == {"commit → ClickHouse row": 3,
                                                                 "commit → serving row": 2}  # fmt: skip
    # the only script is the data island; the hostile handle is text
    assert parsed.scripts == [{"type": "application/json", "id": "report-data"}]
    assert "<script>alert(1)</script>" not in text and "@&lt;script&gt;alert(1)&lt;/script&gt;" in text
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    fresh = data["freshness"]
    assert (fresh["probes"], fresh["arrived_clickhouse"], fresh["arrived_serving"]) == (3, 3, 2)
    assert (fresh["clickhouse_p50_ms"], fresh["clickhouse_p95_ms"]) == (420.0, 610.0)
    assert (fresh["serving_p50_ms"], fresh["serving_p95_ms"]) == (2100.0, 3900.0)
    assert data["throughput"] == {"ingest API": 200.0, "agent profiles": 200.0}
    assert data["lag"] == {"Faust worker": 40.0}
    assert data["movers"][0][2] == "<script>alert(1)</script>"


def test_chromium_lays_out_every_chart_with_its_lines(tmp_path):
    write(tmp_path, _series(), PROBES, MOVERS, html=True, window_s=3)
    charts = rendered_charts(tmp_path / "report.html", tmp_path / "page.png")
    assert [c["name"] for c in charts] == ["throughput", "lag", "freshness", "top_movers"]
    for c in charts:
        assert c["width"] > 300 and c["height"] > 100, c
        for d in c["drawn"]:  # every series is drawn, and has a size on the page, and its label is in the legend
            assert d["marks"] >= 1 and (d["width"] > 0 or d["height"] > 0), (c["name"], d)
            assert d["label"] in c["text"] or c["name"] == "top_movers", (c["name"], d)
    assert next(c for c in charts if c["name"] == "top_movers")["drawn"][0]["marks"] == len(MOVERS)
    assert "@<script>alert(1)</script> (instagram, now #1)" in charts[3]["text"]
    from PIL import Image

    with Image.open(tmp_path / "page.png") as shot:  # the screenshot shows the page, not a blank window
        assert shot.size == (1100, 3400) and len(shot.convert("RGB").getcolors(1 << 20) or []) > 50
    freshness = next(c for c in charts if c["name"] == "freshness")
    assert "commit → ClickHouse row" in freshness["text"] and "p50 420 ms" in freshness["text"]
