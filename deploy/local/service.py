"""What every local service shares: the base class (prepare, argv, start, stop, readiness), the Java binary,
and how root hands a service its files: configs and secrets stay root's, only a data dir is the service user's,
and nothing is written through a link the service user could have planted."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from deploy.local.process import ManagedProcess, PidRecord, as_user
from deploy.local.settings import StackSettings

LOG4J2 = """\
Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: org.apache.kafka.connect.runtime.isolation
        level: ERROR
      - name: org.reflections
        level: ERROR
"""


class Service:
    name: str = ""
    stop_signal: int = signal.SIGTERM

    def __init__(self, settings: StackSettings) -> None:
        self.s = settings
        run = settings.state_dir / "run"
        self.proc = ManagedProcess(
            self.name, run / f"{self.name}.pid", settings.state_dir / "logs" / f"{self.name}.log"
        )

    # overridden per service
    @property
    def port(self) -> int:
        raise NotImplementedError

    def prepare(self) -> None:
        raise NotImplementedError

    def argv(self) -> list[str]:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def user(self) -> str | None:
        return None

    def ports(self) -> list[tuple[int, str]]:
        """The ports the service binds, each with the setting that moves it."""
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def start(self) -> PidRecord:
        running = self.proc.running()
        if running is not None:
            return running
        self.prepare()
        return self.proc.start(self.argv(), env=self.env(), user=self.user())

    def stop(self) -> bool:
        return self.proc.stop(self.stop_signal)


def java() -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java is not installed: Kafka and Connect need Java 17 (apt-get install openjdk-17-jre)")
    return java


FALLBACK_ROOT = Path("/var/tmp/stir-stream")
BASIC_AUTH = "org.apache.kafka.connect.rest.basic.auth.extension"


def chown_to(path: Path, user: str | None) -> None:
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def give_tree(path: Path, user: str | None) -> None:
    """``path`` (a data dir the service writes) and everything under it owned by ``user``; links are not
    followed."""
    if user is None:
        return
    pw = pwd.getpwnam(user)
    if path.lstat().st_uid == pw.pw_uid:
        return
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)
    os.lchown(path, pw.pw_uid, pw.pw_gid)


def reclaim(home: Path, user: str | None, keep: Path | None = None) -> None:
    """Before root writes a service's config and secrets: ``home`` and everything in it but ``keep`` (the
    service's data dir) owned by root, and no link left in it, so nothing the service user could have planted
    there redirects a write of root's."""
    if user is None:
        return
    for root, dirs, files in os.walk(home):
        if keep is not None and Path(root) == keep.parent and keep.name in dirs:
            dirs.remove(keep.name)
        for name in (*dirs, *files):
            entry = os.path.join(root, name)
            if os.path.islink(entry):
                os.unlink(entry)
            else:
                os.lchown(entry, 0, 0)
    os.lchown(home, 0, 0)
    os.chmod(home, 0o755)


def write_config(path: Path, text: str) -> None:
    """Replace ``path`` (never writing through a link) with ``text``, readable by the service."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def share_secrets(directory: Path, user: str | None) -> None:
    """``directory`` and its files owned by root, readable by the service user's group only (0750 / 0640): the
    service reads its secrets, and can neither change them nor put a link in their place."""
    if user is None:
        return
    gid = pwd.getpwnam(user).pw_gid
    os.lchown(directory, 0, gid)
    os.chmod(directory, 0o750)
    for f in directory.iterdir():
        os.lchown(f, 0, gid)
        os.chmod(f, 0o640)


def require_reachable(path: Path, user: str | None) -> None:
    if user is not None and not reachable_by(path, user):
        raise RuntimeError(
            f"OS user {user!r} cannot reach {path}: a parent directory is closed to it; set STIR_STATE_DIR to a "
            "path it can reach (e.g. under /var/tmp) or STIR_SERVICE_OS_USER to another user"
        )


def reachable_by(path: Path, user: str) -> bool:
    """Whether ``user`` can traverse to ``path`` (its deepest existing ancestor is searchable by the user)."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    return subprocess.run(["test", "-x", str(existing)], **as_user(user), capture_output=True).returncode == 0
