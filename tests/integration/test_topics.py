"""`stir topics` on the real broker: `create` makes every declared topic with its partitions and configs and sets
the declared configs back on a topic whose configs drifted; `list` names a missing and a drifted topic (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from schemas.settings import CoreSettings
from schemas.topics import TOPICS, Topology
from tests.support.kafka import delete_topics

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]


def stir(prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STIR_TOPIC_PREFIX": prefix, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "deploy.cli", "topics", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def retention(admin: AdminClient, topic: str) -> str:
    res = ConfigResource("topic", topic)
    return str(admin.describe_configs([res])[res].result(timeout=30)["retention.ms"].value)


def test_create_makes_the_declared_topics_and_undoes_drift_and_list_names_it(stack, uid):
    prefix = f"tp{uid}."
    topo = Topology(CoreSettings(topic_prefix=prefix))
    names = [topo.name(t) for t in TOPICS if t.kind != "cdc"]
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    try:
        assert stir(prefix, "list").returncode == 1  # nothing created yet: every topic is missing
        made = stir(prefix, "create")
        assert made.returncode == 0, made.stderr
        md = admin.list_topics(timeout=10).topics
        assert all(n in md and len(md[n].partitions) == stack.partitions for n in names)
        raw, dlq = topo.name(next(t for t in TOPICS if "ingest" in t.writers)), prefix + "dlq.ingest"
        assert retention(admin, raw) == str(30 * 86_400_000) and retention(admin, dlq) == str(30 * 86_400_000)
        listed = stir(prefix, "list")
        assert listed.returncode == 0 and "drifted" not in listed.stdout, listed.stdout

        # someone shortened a raw topic's retention to a day: list says so, create sets the declared value back
        res = ConfigResource("topic", raw, incremental_configs=[
            ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])  # fmt: skip
        admin.incremental_alter_configs([res])[res].result(timeout=30)
        listed = stir(prefix, "list")
        assert listed.returncode == 1 and "drifted" in listed.stdout and "86400000" in listed.stdout, listed.stdout
        fixed = stir(prefix, "create")
        assert fixed.returncode == 0 and f"{raw}: retention.ms 86400000 -> {30 * 86_400_000}" in fixed.stdout
        assert retention(admin, raw) == str(30 * 86_400_000)
        assert stir(prefix, "list").returncode == 0
    finally:
        delete_topics(stack.bootstrap, names)
