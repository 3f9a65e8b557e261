"""Numbered SQL migrations: discovery, checksums and the plan of what to apply.

Backend-neutral: the PostgreSQL runner (``schemas/oltp_migrate.py``) and the ClickHouse runner share it.
A migration file is ``NNNN_name.sql``; its checksum is the SHA-256 of its bytes. An applied migration
whose file changed, or disappeared, is refused: history is append-only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str
    checksum: str


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str


@dataclass(frozen=True)
class StatusRow:
    version: int
    name: str
    state: str  # applied | pending | modified | missing


def discover(directory: Path) -> list[Migration]:
    out: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = FILE_RE.match(path.name)
        if m is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(m.group(1))
        if version in out:
            raise MigrationError(f"two migrations numbered {version:04d}: {out[version].path.name}, {path.name}")
        raw = path.read_bytes()
        out[version] = Migration(version, m.group(2), path, raw.decode(), hashlib.sha256(raw).hexdigest())
    return [out[v] for v in sorted(out)]


def status(available: list[Migration], applied: list[Applied]) -> list[StatusRow]:
    files = {m.version: m for m in available}
    done = {a.version: a for a in applied}
    rows = []
    for v in sorted(set(files) | set(done)):
        if v not in files:
            rows.append(StatusRow(v, done[v].name, "missing"))
        elif v not in done:
            rows.append(StatusRow(v, files[v].name, "pending"))
        elif done[v].checksum != files[v].checksum:
            rows.append(StatusRow(v, files[v].name, "modified"))
        else:
            rows.append(StatusRow(v, files[v].name, "applied"))
    return rows


def pending(available: list[Migration], applied: list[Applied]) -> list[Migration]:
    """What to apply, in order; refuses edited or vanished applied migrations and gaps in history."""
    rows = status(available, applied)
    bad = [r for r in rows if r.state in ("modified", "missing")]
    if bad:
        detail = "; ".join(
            f"{r.version:04d}_{r.name}: "
            + ("file changed after it was applied" if r.state == "modified" else "applied but its file is gone")
            for r in bad
        )
        raise MigrationError(f"refusing to migrate: {detail}. Add a new migration instead of editing an applied one.")
    done = {a.version for a in applied}
    todo = [m for m in available if m.version not in done]
    if todo and done and todo[0].version < max(done):
        raise MigrationError(f"{todo[0].path.name} is older than the newest applied migration ({max(done):04d})")
    return todo
