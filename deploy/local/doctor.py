"""`stir doctor`: what the local stack needs, checked before `stir up` needs it, each failure with what to do."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from deploy.local.jars import jars_ready
from deploy.local.ports import holder, in_use
from deploy.local.service import Service, reachable_by
from deploy.local.services import all_services
from deploy.local.settings import StackSettings, run_as_user

MIN_FREE_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or what to do


def _java() -> Check:
    java = shutil.which("java")
    if java is None:
        return Check("java", False, "not found: `make setup` installs openjdk-17 (Kafka and Connect need Java 17+)")
    res = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    found = re.search(r'version "(\d+)', res.stderr + res.stdout)
    major = int(found.group(1)) if found else 0
    if major < 17:
        return Check("java", False, f"Java {major or '?'} at {java}: Kafka needs 17 or newer")
    return Check("java", True, f"Java {major} ({java})")


def _ports(svc: Service, s: StackSettings) -> list[Check]:
    if svc.proc.running() is not None:
        return [Check(f"{svc.name} ports", True, f"{svc.name} is running (pid file {svc.proc.pid_file})")]
    out = []
    for port, setting in svc.ports():
        if in_use(s.bind_host, port):
            who = holder(port) or "another process"
            out.append(Check(f"port {port}", False, f"taken by {who}: stop it or set {setting}"))
        else:
            out.append(Check(f"port {port}", True, f"free ({svc.name}, {setting})"))
    return out


def checks(s: StackSettings) -> list[Check]:
    out = [Check("python", sys.version_info >= (3, 11), f"{sys.version.split()[0]} (3.11+ needed)")]
    managed = set(s.managed())
    if {"kafka", "connect"} & managed:
        out.append(_java())
        ready = jars_ready(s.jar_dir)
        if not ready and shutil.which("mvn") is None:
            out.append(Check("jars", False, f"none at {s.jar_dir} and no mvn: run `make setup`"))
        else:
            out.append(Check("jars", True, str(s.jar_dir) if ready else "`stir up` copies them with mvn first"))
    if "postgres" in managed:
        initdb = s.pg_bin_dir / "initdb"
        out.append(Check("postgresql", initdb.exists(), f"{s.pg_bin_dir}" if initdb.exists()
                         else f"no {initdb}: `make setup` installs postgresql-15, or set STIR_PG_BIN_DIR"))  # fmt: skip
    try:
        user = run_as_user(s)
    except ValueError as e:
        out.append(Check("service user", False, str(e)))
        user = None
    else:
        if user is not None:
            try:
                pwd.getpwnam(user)
                out.append(Check("service user", True, f"{user} runs the services (started as root)"))
                reach = reachable_by(s.state_dir, user)
                said = f"{user} reaches it" if reach else f"{user} cannot reach it: set STIR_STATE_DIR under /var/tmp"
                out.append(Check("state dir (service user)", reach, said))
            except KeyError:
                out.append(Check("service user", False, f"no OS user {user!r}: create it or set STIR_SERVICE_OS_USER"))
    existing = next(p for p in (s.state_dir, *s.state_dir.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    out.append(Check("disk", free >= MIN_FREE_BYTES, f"{free / 2**30:.1f} GiB free at {existing} (2 GiB needed)"))
    out.append(
        Check("state dir", os.access(existing, os.W_OK), f"{s.state_dir} (writable: {os.access(existing, os.W_OK)})")
    )
    for svc in all_services(s):
        if svc.name in managed:
            out.extend(_ports(svc, s))
    return out
