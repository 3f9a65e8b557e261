"""`stir streams worker` supervises its Faust worker process.

The worker is crash-only: when continuing could commit an offset past unfinished work (an agent error, a revoke
during a table recovery, a hole in the offsets) it exits with ``RESTART`` (70) at once and a new process reads
the run again from the committed offsets. Something has to start that new process, in every runtime (a shell,
the local pipeline, systemd, a container), so the command does it itself:

- exit 70 or death by a signal (the OOM killer): start the worker again after a short backoff;
- any other exit (0 after SIGTERM, a start-up error): return that code, nothing is restarted;
- more than ``limit`` restarts within ``window_s``: give up with 70 and say so on stderr (a crash loop is for
  an operator, not for a tight loop);
- SIGTERM/SIGINT/SIGHUP are passed on to the worker, whose exit ends the supervisor;
- the worker dies with the supervisor (``PR_SET_PDEATHSIG``): a SIGKILL of ``stir streams worker`` leaves no
  orphan holding the state files or the group membership.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from types import FrameType

RESTART = 70
PR_SET_PDEATHSIG = 1
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the child between fork and exec only calls it


def _dies_with(parent: int) -> Callable[[], None]:
    def child() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before the line above took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return child


def backoff_s(restarts_in_window: int) -> float:
    """Wait before the next start: 0.5 s, 1 s, 2 s, ... at most 10 s."""
    return float(min(0.5 * 2 ** max(restarts_in_window - 1, 0), 10.0))


def supervise(argv: list[str], *, limit: int, window_s: float,
              say: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> int:  # fmt: skip
    """Run ``argv`` until it exits for good; its exit code (70 when the restarts ran out)."""
    stopping = 0  # the signal that asked the supervisor to stop
    child: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = deque()

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = signum
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        while True:
            child = subprocess.Popen(argv, preexec_fn=_dies_with(os.getpid()))
            if stopping:  # a signal between two starts reached no worker
                child.terminate()
            code = child.wait()
            if stopping and (code == RESTART or code < 0):
                # asked to stop while the worker exited to be restarted (or died): the signal's code, never 70
                return 128 + stopping
            if stopping or not (code == RESTART or code < 0):
                return code
            now = time.monotonic()
            restarts.append(now)
            while restarts and restarts[0] < now - window_s:
                restarts.popleft()
            if len(restarts) > limit:
                say(f"the stream worker exited {len(restarts)} times within {window_s:.0f}s (last exit code "
                    f"{code}); not restarting it. Its log above says why; fix that and start it again.")  # fmt: skip
                return RESTART
            wait = backoff_s(len(restarts))
            say(
                f"the stream worker exited with code {code} (crash-only: nothing unfinished was committed); "
                f"restarting it in {wait:.1f}s (restart {len(restarts)} of {limit} within {window_s:.0f}s)"
            )
            deadline = time.monotonic() + wait
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.05)
            if stopping:  # during the backoff: no worker runs, the exit code says which signal ended it
                return 128 + stopping
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
