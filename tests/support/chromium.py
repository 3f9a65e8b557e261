"""A page of `stir report --html` as headless Chromium (Debian's, installed by `make setup`) lays it out.

``rendered_charts`` loads a copy of the page with a measuring script added (the page itself has none), dumps the DOM
after layout and reads back, per chart: its laid-out size, its text, and per drawn series (the SVG groups
``series-<i>``, ``series-<i>-<j>``) the size of what Chromium drew. It also takes a screenshot of the page itself."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

MEASURE = """
<script>
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("figure.chart")].map((fig) => {
    const svg = fig.querySelector("svg");
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const series = Object.keys(JSON.parse(fig.dataset.series || "{}"));
    const drawn = series.map((label, i) => {
      const marks = [...fig.querySelectorAll(`[id="series-${i}"], [id^="series-${i}-"]`)];
      const sizes = marks.map((m) => m.getBoundingClientRect());
      return {label, marks: marks.length,
              width: Math.max(0, ...sizes.map((r) => r.width)), height: Math.max(0, ...sizes.map((r) => r.height))};
    });
    return {name: fig.dataset.chart, width: box.width, height: box.height, text: svg ? svg.textContent : "",
            series, drawn};
  });
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(charts);
  document.body.appendChild(out);
});
</script>
"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--no-first-run", "--virtual-time-budget=5000"]  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("Chromium is not installed: run `make setup` (it installs Debian's chromium)")
    return found


def rendered_charts(page: Path, screenshot: Path, width: int = 1100, height: int = 3400) -> list[dict[str, Any]]:
    text = page.read_text()
    probe = page.with_name(f".measure-{page.name}")
    probe.write_text(text.replace("</body>", MEASURE + "</body>"))
    profile = page.parent / ".chromium-profile"
    flags = [*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
    try:
        dom = subprocess.run([chromium(), *flags, "--dump-dom", probe.resolve().as_uri()], capture_output=True,
                             text=True, timeout=120, check=True).stdout  # fmt: skip
        subprocess.run([chromium(), *flags, f"--screenshot={screenshot}", page.resolve().as_uri()],
                       capture_output=True, timeout=120, check=True)  # fmt: skip
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    if found is None:
        raise AssertionError(f"the measuring script did not run; DOM tail: {dom[-500:]!r}")
    return list(json.loads(html.unescape(found.group(1))))
