"""The Kafka / Connect / Debezium jars, copied from Maven Central into a cache once.

``deploy/local/pom.xml`` lists the artifacts; ``mvn dependency:copy-dependencies`` copies them.
A stamp file holding the pom's hash makes the step idempotent and re-runs it when the pom changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")
DEBEZIUM_PLUGIN = "debezium-connector-postgres"


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()[:16]


def kafka_classpath(jar_dir: Path) -> str:
    return str(jar_dir / "kafka" / "*")


def plugin_path(jar_dir: Path) -> Path:
    return jar_dir / "plugins"


def jars_ready(jar_dir: Path) -> bool:
    stamp = jar_dir / ".stamp"
    return stamp.exists() and stamp.read_text().strip() == _pom_hash()


def ensure_jars(jar_dir: Path, log: Path | None = None) -> bool:
    """Copy the jars into ``jar_dir`` unless the cache is current. Returns True if it copied."""
    if jars_ready(jar_dir):
        return False
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is not installed: apt-get install maven (Java 17 is needed too)")
    tmp = jar_dir.with_name(jar_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    targets = {"kafka": tmp / "kafka", "debezium": tmp / "plugins" / DEBEZIUM_PLUGIN}
    for profile, out in targets.items():
        cmd = [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(POM),
            "-P",
            profile,
            "dependency:copy-dependencies",
            f"-DoutputDirectory={out}",
            "-DincludeScope=runtime",
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(res.stdout + res.stderr)
        if res.returncode != 0:
            raise RuntimeError(f"mvn failed for profile {profile}:\n{res.stdout[-4000:]}{res.stderr[-4000:]}")
    (tmp / ".stamp").write_text(_pom_hash())
    shutil.rmtree(jar_dir, ignore_errors=True)
    jar_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(jar_dir)
    return True
