"""PID-file process supervision for the local services.

A pid file records the pid *and* the process start time read from ``/proc/<pid>/stat``, so a
recycled pid is never mistaken for our process and `stop` only ever signals what `start` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # field 22 (starttime) counted after the ")" that closes the command name
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # zombie: exited, not yet reaped
        return None
    return int(fields[19])


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_ticks: int

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks


def as_user(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a child as ``user`` with that user's own groups (``user=`` alone keeps
    the parent's: a service started by root would keep root's group)."""
    if user is None:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": os.getgrouplist(user, pw.pw_gid)}


class ManagedProcess:
    """One long-running service process tracked by a pid file."""

    def __init__(self, name: str, pid_file: Path, log_file: Path) -> None:
        self.name = name
        self.pid_file = pid_file
        self.log_file = log_file

    def record(self) -> PidRecord | None:
        try:
            data = json.loads(self.pid_file.read_text())
            return PidRecord(int(data["pid"]), int(data["start_ticks"]))
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def running(self) -> PidRecord | None:
        rec = self.record()
        if rec is not None and rec.alive():
            return rec
        return None

    def start(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> PidRecord:
        """Start ``argv`` detached (own session), output appended to the log file."""
        existing = self.running()
        if existing is not None:
            return existing
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                **as_user(user),
                start_new_session=True,
            )
        ticks = None
        for _ in range(100):
            ticks = _start_ticks(proc.pid)
            if ticks is not None:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        if ticks is None:
            raise RuntimeError(f"{self.name} exited at once (code {proc.poll()}); see {self.log_file}")
        rec = PidRecord(proc.pid, ticks)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": rec.pid, "start_ticks": rec.start_ticks, "argv": argv}))
        tmp.replace(self.pid_file)
        return rec

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> bool:
        """Signal our process, wait for it to exit, SIGKILL its group after the timeout.

        Returns True if a process was stopped.
        """
        rec = self.running()
        if rec is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, sig)
        if not wait_until(lambda: not rec.alive(), timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec.pid, signal.SIGKILL)
            wait_until(lambda: not rec.alive(), 10.0)
        self._reap(rec.pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL of the process and everything it started (fault injection: the component dies at once, no
        clean shutdown); returns once none of them is left."""
        rec = self.running()
        if rec is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(rec.pid, signal.SIGKILL)  # started in a session of its own: its group is its pid
        wait_until(lambda: not rec.alive() and not _group_alive(rec.pid), 10.0)
        self._reap(rec.pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    """A process of group ``pgid`` other than zombies is left."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def wait_until(cond: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``cond`` until true or the timeout passes (a readiness wait, not a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if cond():
                return True
        except Exception:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
