"""What one delivery decides, without I/O: how a scraper answer is taken, how long to back off, the rate cap."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from schemas.secrets import secure_dir

Verdict = Literal["delivered", "retry", "refused"]
REFUSED = frozenset({400, 413, 422})  # the scraper will never take this request: dead-letter it


def verdict(status: int) -> Verdict:
    """2xx, and 409 (the scraper already has this idempotency key): delivered. 400/413/422: refused (the request is
    dead-lettered with the answer). Anything else (408, 429, 5xx, and 401/403/404, which a fix of the scraper's
    configuration or ours cures): retried, so that no request is lost to an outage or a misconfiguration."""
    if 200 <= status < 300 or status == 409:
        return "delivered"
    return "refused" if status in REFUSED else "retry"


def retry_after_s(headers: Mapping[str, str], cap_s: float) -> float | None:
    """A ``Retry-After`` in seconds (the HTTP-date form is not used by scrapers here), at most ``cap_s``."""
    value = headers.get("retry-after", "").strip()
    if not value.isdigit():
        return None
    return min(float(value), cap_s)


@dataclass
class Backoff:
    """Exponential: ``initial_s``, doubling per failure up to ``max_s``; ``reset`` after a success."""

    initial_s: float
    max_s: float
    failures: int = 0

    def next_s(self) -> float:
        delay = min(self.max_s, self.initial_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class SendLog:
    """The times of the POSTs of the last window, kept in a file so that a restarted dispatcher keeps the cap.

    A send is recorded before it goes out (a send killed in flight still counts)."""

    def __init__(self, path: Path, limit: int, window_s: float, now: float) -> None:
        self.path, self.limit, self.window_s = path, limit, window_s
        secure_dir(path.parent)
        times: list[float] = []
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    times.append(float(line))
                except ValueError:
                    continue  # a line torn by a kill
        self.times: deque[float] = deque(sorted(t for t in times if t > now - window_s))
        self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(f"{t:.6f}\n" for t in self.times))
        os.replace(tmp, self.path)
        self._lines = len(self.times)

    def _expire(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.window_s:
            self.times.popleft()

    def wait_s(self, now: float) -> float:
        """How long until one more send fits in the window (0: now)."""
        self._expire(now)
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.window_s - now

    def record(self, now: float) -> None:
        self.times.append(now)
        if self._lines > 4 * self.limit + 100:
            self._expire(now)
            self._rewrite()
            return
        with open(self.path, "a") as f:
            f.write(f"{now:.6f}\n")
        self._lines += 1
