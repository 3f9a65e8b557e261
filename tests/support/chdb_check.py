"""Run a marts check module (``python -m <module> <chdb path>``) in a child process, since chdb keeps one data path
per process, and return the JSON report it prints last: ``{mart: {"rows": n, "diffs": [...]}}``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_check(module: str, data_path: Path, timeout_s: float = 600) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", module, str(data_path)], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=timeout_s)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    for name, r in report.items():
        assert r["diffs"] == [], (name, r["diffs"])
        assert r["rows"] > 0, f"{name}: nothing compared"
    return report
