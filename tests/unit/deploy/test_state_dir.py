"""Every path derives from the one state dir: `make clean-state` deletes STIR_STATE_DIR, never ./.stir, and each
component's paths move with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clickhouse_ddl.settings import WarehouseSettings
from connectors.ingest.settings import IngestSettings
from deploy.local.settings import StackSettings
from streams.settings import StreamsSettings

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_clean_state_honours_the_state_dir(tmp_path):
    """Run from a directory whose ./.stir holds a sentinel (the default state dir there): only STIR_STATE_DIR goes."""
    state, cwd = tmp_path / "state", tmp_path / "checkout"
    (state / "streams").mkdir(parents=True)
    (state / "streams" / "table.sst").write_text("x")
    (cwd / ".stir").mkdir(parents=True)
    sentinel = cwd / ".stir" / "keep"
    sentinel.write_text("x")
    env = {**os.environ, "STIR_STATE_DIR": str(state)}
    venv = Path(sys.executable).parent.parent  # the virtualenv running these tests
    argv = ["make", "-s", "-f", str(REPO_ROOT / "Makefile"), f"VENV={venv}", "clean-state"]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not state.exists(), done.stdout
    assert sentinel.exists(), "clean-state touched ./.stir"


def test_every_component_path_is_under_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("STIR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("STIR_TOPIC_PREFIX", "t1.")
    paths = [StreamsSettings().data_dir, IngestSettings().tokens_file, WarehouseSettings().embedded_path,
             StackSettings().pg_password_file, StackSettings().connect_secrets_file]  # fmt: skip
    for p in paths:
        assert p.is_relative_to(tmp_path), p
    assert WarehouseSettings().embedded_path.name == "t1_stir"
