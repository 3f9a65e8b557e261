"""Who this worker is in its consumer group: each process joins with a client id of its own, written to its data
dir as it starts. That answers two questions without reading faust's internals:

- at start, is this worker's previous incarnation (killed a moment ago) still a member? Joining beside a dead
  member costs two rebalances (the second when its session expires), so a restart waits until it is gone, up to
  the session timeout; a worker joining beside live ones does not wait at all;
- is this worker ready? It has joined and holds an assignment (not merely "the group has members": a member that
  was just killed still shows its assignment until its session expires).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger("stir.streams")
IDENTITY = "worker-identity.json"


def new_client_id(app_id: str) -> str:
    return f"{app_id}-{uuid.uuid4().hex[:12]}"


def previous(data_dir: Path) -> dict[str, Any] | None:
    """The identity the last worker on this data dir joined with."""
    try:
        found = json.loads((data_dir / IDENTITY).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and isinstance(found.get("client_id"), str) else None


def record(data_dir: Path, client_id: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f"{IDENTITY}.tmp"
    # the supervisor's pid too: readiness is asked of the process that was started (``stir streams worker``)
    tmp.write_text(json.dumps({"pid": os.getpid(), "parent": os.getppid(), "client_id": client_id}))
    tmp.replace(data_dir / IDENTITY)


def members(bootstrap: str, group: str) -> list[Any]:
    """The group's members (confluent-kafka ``MemberDescription``), [] when the group is unknown or empty."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        return list(admin.describe_consumer_groups([group])[group].result(timeout=10).members)
    except Exception:
        return []


def wait_for_previous_incarnation(bootstrap: str, group: str, data_dir: Path, timeout_s: float) -> None:
    """Before joining: wait (up to ``timeout_s``) while the member this data dir last joined as is still in the
    group; other members are live workers and are not waited for."""
    before = previous(data_dir)
    if before is None:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(m.client_id == before["client_id"] for m in members(bootstrap, group)):
            return
        time.sleep(0.25)
    log.warning("the previous worker on %s is still a member of %s after %.0fs; joining anyway", data_dir, group,
                timeout_s)  # fmt: skip


def _alive(pid: object) -> bool:
    """``pid`` is a running process (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def joined(bootstrap: str, group: str, data_dir: Path, pid: int) -> bool:
    """The worker process ``pid`` (or the worker ``pid`` supervises) has joined ``group`` and holds an
    assignment."""
    me = previous(data_dir)
    if me is None or pid not in (me.get("pid"), me.get("parent")):
        return False
    if not _alive(me.get("pid")):  # its supervisor's dead Faust process; the next one has not joined yet
        return False
    return any(m.client_id == me["client_id"] and m.assignment.topic_partitions for m in members(bootstrap, group))
