"""ManagedProcess: pid files that survive pid reuse; stop only what was started."""

from __future__ import annotations

import json
import os
import signal
import sys

from deploy.local.process import ManagedProcess, wait_until

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)",
]


def test_start_is_idempotent_and_stop_leaves_no_process(tmp_path):
    p = ManagedProcess("sleeper", tmp_path / "s.pid", tmp_path / "s.log")
    rec = p.start(SLEEPER)
    assert p.start(SLEEPER) == rec  # second start reuses the running one
    assert p.running() == rec
    assert p.stop() is True
    assert not rec.alive()
    assert not (tmp_path / "s.pid").exists()
    assert p.stop() is False  # nothing left to stop


def test_stale_pid_file_with_reused_pid_is_not_ours(tmp_path):
    pid_file = tmp_path / "x.pid"
    # our own pid, but with a start time that is not ours: a recycled pid must not be signalled
    pid_file.write_text(json.dumps({"pid": os.getpid(), "start_ticks": 1}))
    p = ManagedProcess("x", pid_file, tmp_path / "x.log")
    assert p.running() is None
    assert p.stop() is False  # did not signal this test process
    assert not pid_file.exists()


def test_stop_escalates_to_sigkill(tmp_path):
    p = ManagedProcess("stubborn", tmp_path / "t.pid", tmp_path / "t.log")
    rec = p.start(STUBBORN)
    assert wait_until(lambda: "ready" in (tmp_path / "t.log").read_text(), 10)
    assert p.stop(signal.SIGTERM, timeout_s=0.5) is True
    assert not rec.alive()


def test_immediate_exit_is_reported(tmp_path):
    p = ManagedProcess("bad", tmp_path / "b.pid", tmp_path / "b.log")
    try:
        p.start([sys.executable, "-c", "raise SystemExit(3)"])
    except RuntimeError as e:
        assert "exited at once" in str(e)
    else:  # it may have been caught alive for a moment; then it must be gone soon after
        assert wait_until(lambda: p.running() is None, 5)
