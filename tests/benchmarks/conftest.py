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


def render(data: dict[str, Any]) -> str:
    lines = ["| section | figure | value |", "|---|---|---|"]
    for section, figures in sorted(data.items()):
        if section == "machine":
            continue
        for k, v in figures.items():
            if k == "measured_at":
                continue
            lines.append(f"| {section} | {k} | {round(v, 2) if isinstance(v, float) else v} |")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def results() -> Results:
    return Results()
