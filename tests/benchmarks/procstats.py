"""CPU and memory of the pipeline's processes (each with its children, e.g. PostgreSQL's backends), from /proc."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, CPU ticks used, resident KiB)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[21]) * PAGE_KB


def _tree(root: int, stats: dict[int, tuple[int, int, int]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append(pid)
            todo += children.get(pid, [])
    return out


def snapshot(roots: dict[str, int], alone: frozenset[str] = frozenset()) -> dict[str, tuple[int, int]]:
    """name -> (CPU ticks, resident KiB) of the process tree (of the process only, for the names in ``alone``)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = _stat(int(entry))
            if s is not None:
                stats[int(entry)] = s
    out = {}
    for name, root in roots.items():
        pids = [root] if name in alone and root in stats else _tree(root, stats)
        out[name] = (sum(stats[p][1] for p in pids), sum(stats[p][2] for p in pids))
    return out


class Sampler(threading.Thread):
    """Samples every second; ``result()``: CPU % (of one core) over the window and peak RSS in MiB."""

    def __init__(self, roots: dict[str, int], alone: frozenset[str] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.alone = alone
        self.first = snapshot(roots, alone)
        self.t0 = time.monotonic()
        self.peak = {k: v[1] for k, v in self.first.items()}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            for name, (_, rss) in snapshot(self.roots, self.alone).items():
                self.peak[name] = max(self.peak.get(name, 0), rss)

    def result(self) -> dict[str, dict[str, float]]:
        self.stop.set()
        last = snapshot(self.roots, self.alone)
        dt = time.monotonic() - self.t0
        return {name: {"cpu_pct": round((last[name][0] - self.first[name][0]) / TICK / dt * 100, 1),
                       "rss_mib": round(max(self.peak[name], last[name][1]) / 1024, 1)}
                for name in self.roots}  # fmt: skip
