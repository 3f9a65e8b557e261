"""Secret files: created 0600 (from the first byte, never chmod'ed after the fact) in a 0700 directory, whose mode
is repaired when something made it wider."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def secure_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (replacing it) through a new 0600 file."""
    secure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def ensure_secret(path: Path) -> str:
    """The secret in ``path``; a new random one when the file does not exist."""
    secure_dir(path.parent)
    if not path.exists():
        write_secret(path, secrets.token_urlsafe(24) + "\n")
    elif path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_text().strip()
