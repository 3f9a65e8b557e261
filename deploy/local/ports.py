"""Who holds a TCP port: checked before a service starts, so that `stir up` names the port and the process
instead of pointing at a log (Linux: listening sockets from /proc/net/tcp*, their owners from /proc/*/fd)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path

LISTEN = "0A"


def in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails because something holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the services: TIME_WAIT is no holder
        try:
            s.bind((host, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def holder(port: int) -> str | None:
    """``pid N (name)`` of a process listening on ``port``, when this user may see it (its name, not its command
    line: that may hold someone's secret)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            fds = Path(f"/proc/{pid}/fd")
            if any(os.readlink(fds / fd) in wanted for fd in os.listdir(fds)):
                return f"pid {pid} ({Path(f'/proc/{pid}/comm').read_text().strip()})"
    return None


def port_error(service: str, host: str, port: int, setting: str) -> str | None:
    """A message naming the port, its holder and what to do, when ``host:port`` is taken; None when free."""
    if not in_use(host, port):
        return None
    who = holder(port) or "another process"
    return f"{service} cannot start: port {port} on {host} is in use by {who}; stop it, or set {setting} to a free port"
