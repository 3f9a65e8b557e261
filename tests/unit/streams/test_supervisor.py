"""The worker's supervisor with real child processes: restarts on 70 and on death by a signal, nothing else;
gives up on a crash loop; passes SIGTERM on; its worker dies with it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from streams.supervisor import RESTART, backoff_s, supervise

PREAMBLE = """
import os, signal, sys, time
from pathlib import Path
f = Path({starts!r})
n = int(f.read_text()) + 1 if f.exists() else 1
f.write_text(str(n))


def ready():  # the test may act now: the pid, written whole
    tmp = Path({pid!r} + ".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace({pid!r})
"""


def child(tmp_path: Path, body: str) -> list[str]:
    """A child that counts its starts in ``starts`` and then runs ``body`` (``n`` is its start number; ``ready()``
    writes its pid file)."""
    script = tmp_path / "child.py"
    preamble = PREAMBLE.format(starts=str(tmp_path / "starts"), pid=str(tmp_path / "pid"))
    script.write_text(preamble + textwrap.dedent(body))
    return [sys.executable, str(script)]


def starts(tmp_path: Path) -> int:
    return int((tmp_path / "starts").read_text())


def gone(pid: int, timeout_s: float = 10.0) -> bool:
    """``pid`` has exited (a zombie waiting for whoever adopted it counts as exited)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_restarts_on_exit_70_until_the_worker_exits_for_good(tmp_path):
    said: list[str] = []
    code = supervise(child(tmp_path, "sys.exit(70 if n < 3 else 0)"), limit=5, window_s=60, say=said.append)
    assert (code, starts(tmp_path)) == (0, 3)
    assert len(said) == 2 and all("code 70" in m and "restarting" in m for m in said)


def test_restarts_after_death_by_a_signal(tmp_path):
    code = supervise(child(tmp_path, "os.kill(os.getpid(), signal.SIGKILL) if n == 1 else sys.exit(0)"), limit=5,
                     window_s=60, say=lambda _m: None)  # fmt: skip
    assert (code, starts(tmp_path)) == (0, 2)


def test_other_exit_codes_are_returned_without_a_restart(tmp_path):
    code = supervise(child(tmp_path, "sys.exit(3)"), limit=5, window_s=60, say=lambda _m: None)
    assert (code, starts(tmp_path)) == (3, 1)


def test_a_crash_loop_gives_up_with_70_and_says_so(tmp_path):
    said: list[str] = []
    code = supervise(child(tmp_path, "sys.exit(70)"), limit=2, window_s=60, say=said.append)
    assert (code, starts(tmp_path)) == (RESTART, 3)
    assert "not restarting" in said[-1] and "3 times" in said[-1]


def test_backoff_doubles_up_to_ten_seconds():
    assert [backoff_s(n) for n in (1, 2, 3, 4, 5, 6, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def run_supervisor(tmp_path: Path, body: str) -> subprocess.Popen[bytes]:
    """``supervise`` in a process of its own, over a child running ``body`` (which calls ``ready()``)."""
    argv = child(tmp_path, body)
    code = f"import sys; from streams.supervisor import supervise; sys.exit(supervise({argv!r}, limit=5, window_s=60))"
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "pid").exists(), "the child never got ready"
    return proc


def test_sigterm_is_passed_on_and_ends_the_supervisor(tmp_path):
    term = str(tmp_path / "term")
    body = f"""
        def term(*_):
            Path({term!r}).write_text("got it")
            sys.exit(0)
        signal.signal(signal.SIGTERM, term)
        ready()
        while True:
            time.sleep(0.05)
    """
    proc = run_supervisor(tmp_path, body)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert Path(term).read_text() == "got it"
    assert starts(tmp_path) == 1


def test_a_signal_during_the_backoff_ends_it_with_128_plus_the_signal(tmp_path):
    proc = run_supervisor(tmp_path, "ready()\nsys.exit(70)")  # exits at once: the supervisor waits 0.5 s
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM  # never 70, which says "restart me"
    assert starts(tmp_path) <= 2


def test_the_worker_dies_with_a_killed_supervisor(tmp_path):
    proc = run_supervisor(tmp_path, "ready()\ntime.sleep(600)")
    pid = int((tmp_path / "pid").read_text())
    proc.kill()
    proc.wait(10)
    assert gone(pid), f"the worker {pid} outlived its supervisor"
