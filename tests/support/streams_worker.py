"""Run the real Faust worker (`stir streams worker`) as a subprocess, and read its progress from Kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from schemas.kafka import group_lag as group_lag
from tests.support.ingest_server import free_port


class Worker:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env, "STIR_STREAMS_WEB_PORT": str(free_port()),
                    "STIR_STATE_DIR": str(workdir / "state")}  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"worker-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deploy.cli", "streams", "worker"], env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        """The worker (``stir streams worker``, which restarts its Faust process on exit code 70) runs."""
        return self.proc is not None and self.proc.poll() is None

    def restarts(self) -> int:
        """How many times its supervisor restarted the Faust process (after an exit 70 or a signal)."""
        logs = self.workdir.glob("worker-*.log")
        return sum(log.read_text(errors="replace").count("restarting it in") for log in logs)

    def unplanned_restarts(self) -> list[str]:
        """The log lines before each restart that was not the designed one: a revoke that found the run's tables
        still recovering exits the Faust process for a restart without acknowledging the run
        (``streams/faust_fixes.py``, ``RestartRequired``); anything else (a crash, an offset gap) is a defect."""
        out = []
        for log in self.workdir.glob("worker-*.log"):
            lines = log.read_text(errors="replace").splitlines()
            for i, line in enumerate(lines):
                if "restarting it in" in line and not any("exiting for a restart (the run is read again)" in x
                                                          for x in lines[max(0, i - 40) : i]):  # fmt: skip
                    out.append("\n".join(lines[max(0, i - 15) : i + 1]))
        return out

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
