"""The discovery profile, the leaderboard, the growth series and the insights, run by embedded ClickHouse over
the profile agent's rows and the raw events of 14 months, equal the plain-Python oracle (in a child process:
chdb keeps one data path per process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_discovery_marts_equal_oracle(tmp_path):
    argv = [sys.executable, "-m", "tests.support.discovery_marts_check", str(tmp_path / "chdb")]
    out = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for name, r in report.items():
        assert r["diffs"] == [], (name, r["diffs"])
        assert r["rows"] > 0, f"{name}: nothing compared"
    assert report["months"]["rows"] >= 13
