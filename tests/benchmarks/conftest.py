"""Benchmark harness: results merged into results/latest.json and rendered as results/latest.md."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).with_name("results")


class Results:
    def __init__(self) -> None:
        self.path = RESULTS / "latest.json"

    def record(self, section: str, figures: dict[str, Any]) -> None:
        RESULTS.mkdir(exist_ok=True)
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        data.setdefault("machine", {}).update(
            {"python": platform.python_version(), "cpus": __import__("os").cpu_count(), "platform": platform.platform()}
        )
        data[section] = {**figures, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        (RESULTS / "latest.md").write_text(render(data))


def _ms(level: dict[str, Any], key: str) -> str:
    return " / ".join(str(level[key][p]) for p in ("50", "95", "99")) if level[key] else "-"


def render_freshness(f: dict[str, Any]) -> list[str]:
    out = ["", f"Freshness under sustained load ({f['seconds_per_level']} s per level; ms p50 / p95 / p99)", "",
           "| target ev/s | accepted ev/s | sustained | commit → ClickHouse | commit → serving | worker drain s "
           "| worker CPU % | worker RSS MiB |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for lv in f["levels"]:
        w = lv["processes"].get("worker", {})
        out.append(f"| {lv['target_events_per_s']:,} | {lv['accepted_events_per_s']:,} | {lv['sustained']} "
                   f"| {_ms(lv, 'to_clickhouse_ms')} | {_ms(lv, 'to_serving_ms')} | {lv['worker_drain_s']} "
                   f"| {w.get('cpu_pct', '-')} | {w.get('rss_mib', '-')} |")  # fmt: skip
    best = [lv for lv in f["levels"] if lv["sustained"]]
    if best:
        top = max(best, key=lambda lv: lv["target_events_per_s"])
        out += ["", f"CPU (% of one core) and peak RSS per process at {top['target_events_per_s']:,} events/s", "",
                "| process | CPU % | RSS MiB |", "|---|---|---|"]  # fmt: skip
        out += [f"| {name} | {u['cpu_pct']} | {u['rss_mib']} |" for name, u in top["processes"].items()]
    b = f.get("batch_baseline")
    if b:
        out += [
            "",
            f"Batch baseline (recompute every {b['period_s']} s, recompute {b['recompute_s']} s): commit → "
            f"serving p50 {b['to_serving_p50_s']} s, p95 {b['to_serving_p95_s']} s; the pipeline's p50 "
            f"{b['pipeline_to_serving_p50_s']} s at the highest sustained load: **{b['ratio_p50']}x fresher**.",
        ]
    return out


def render(data: dict[str, Any]) -> str:
    lines = ["| section | figure | value |", "|---|---|---|"]
    extra: list[str] = []
    for section, figures in sorted(data.items()):
        if section == "machine":
            continue
        if section == "freshness_under_load":
            extra += render_freshness(figures)
            lines.append(f"| {section} | max sustained events/s | {figures['max_sustained_events_per_s']} |")
            continue
        for k, v in figures.items():
            if k in ("measured_at", "runs"):
                continue
            lines.append(f"| {section} | {k} | {round(v, 2) if isinstance(v, float) else v} |")
    return "\n".join(lines + extra) + "\n"


@pytest.fixture(scope="session")
def results() -> Results:
    return Results()
