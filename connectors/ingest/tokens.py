"""Bearer tokens of the ingest API, stored hashed (SHA-256) in a JSON file with their scopes.

A scope is an event-type pattern (``social.*``, ``activity.auth.attempt`` or ``*``). The plaintext token
is shown once, when created. Each token records when it was created and, optionally, when it expires (an
expired token is refused like an unknown one). The file is written 0600 from its first byte, in the 0700
secrets dir (``schemas.secrets``).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.secrets import write_secret


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: tuple[str, ...]
    expires_at_ms: int | None = None

    def may_write(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, s) for s in self.scopes)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_hash: dict[str, Principal] = {}
        self._mtime: float | None = None
        self.reload()

    def reload(self) -> None:
        if not self.path.exists():
            self._by_hash = {}
            self._mtime = None
            return
        self._mtime = self.path.stat().st_mtime
        data = json.loads(self.path.read_text())
        self._by_hash = {
            t["sha256"]: Principal(t["name"], tuple(t["scopes"]), t.get("expires_at_ms"))
            for t in data.get("tokens", [])
            if not t.get("revoked")
        }

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = _hash(authorization[7:].strip())
        if self._changed():  # tokens created or revoked since the last look take effect without a restart
            self.reload()
        return self._find(digest)

    def _find(self, digest: str) -> Principal | None:
        found = None
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = principal
        if found is not None and found.expires_at_ms is not None and found.expires_at_ms <= time.time() * 1000:
            return None
        return found

    def _changed(self) -> bool:
        try:
            return self.path.stat().st_mtime != self._mtime
        except FileNotFoundError:
            return self._mtime is not None

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        """The file's tokens to change, written back on exit; two processes editing at once take turns (an
        exclusive lock beside the file), so neither loses the other's token."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text()) if self.path.exists() else {"tokens": []}
            yield data
            self._write(data)
        finally:
            os.close(fd)  # releases the lock

    def create(self, name: str, scopes: list[str], expires_in_s: float | None = None) -> str:
        """Add a token (expiring ``expires_in_s`` from now, or never); returns its plaintext (not stored)."""
        token = "stir_" + secrets.token_urlsafe(32)
        now = int(time.time() * 1000)
        expires = None if expires_in_s is None else now + int(expires_in_s * 1000)
        with self._editing() as data:
            data["tokens"].append({"name": name, "sha256": _hash(token), "scopes": scopes, "revoked": False,
                                   "created_at_ms": now, "expires_at_ms": expires})  # fmt: skip
        return token

    def revoke(self, name: str) -> int:
        n = 0
        with self._editing() as data:
            for t in data["tokens"]:
                if t["name"] == name and not t.get("revoked"):
                    t["revoked"] = True
                    n += 1
        return n

    def _write(self, data: dict[str, object]) -> None:
        write_secret(self.path, json.dumps(data, indent=2))
        self.reload()
