"""deploy/kubernetes/: the core resources are schema-checked by `make lint` (kubernetes-validate, strict); here the
Strimzi resources' shape, that every STIR_* variable set there is a real setting, that every command is a real
`stir` command, and that no credential is written in them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

from deploy.cli import app
from tests.unit.test_readme_config import config_table

K8S = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"


def _docs() -> list[dict[str, Any]]:
    return [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def test_every_resource_is_in_the_namespace_and_the_strimzi_ones_have_their_required_fields():
    docs = _docs()
    assert {d["kind"] for d in docs} >= {"Kafka", "KafkaNodePool", "KafkaConnect", "StatefulSet", "Deployment", "Job"}
    for d in docs:
        assert d["kind"] == "Namespace" or d["metadata"]["namespace"] == "stir", d["metadata"]["name"]
    strimzi = {d["kind"]: d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")}
    assert all(d["apiVersion"] == "kafka.strimzi.io/v1beta2" for d in strimzi.values())
    assert strimzi["KafkaNodePool"]["metadata"]["labels"]["strimzi.io/cluster"] == strimzi["Kafka"]["metadata"]["name"]
    assert set(strimzi["KafkaNodePool"]["spec"]["roles"]) == {"controller", "broker"}
    kafka = strimzi["Kafka"]["spec"]["kafka"]
    assert kafka["config"]["auto.create.topics.enable"] is False and kafka["listeners"]
    connect = strimzi["KafkaConnect"]["spec"]
    assert connect["bootstrapServers"].startswith(strimzi["Kafka"]["metadata"]["name"] + "-kafka-bootstrap:")
    allowed = connect["config"]["config.providers.file.param.allowed.paths"]
    secrets_path = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["STIR_CDC_CONNECT_SECRETS_PATH"]
    assert secrets_path.startswith(allowed + "/")


def _containers(d: dict[str, Any]) -> list[dict[str, Any]]:
    spec = d.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def test_every_variable_is_a_setting_and_every_command_a_stir_command():
    known = set(re.findall(r"`(STIR_[A-Z0-9_]+)`", config_table()))
    docs = _docs()
    names = set(next(d for d in docs if d["kind"] == "ConfigMap")["data"])
    commands = get_command(app)
    for d in docs:
        for c in _containers(d):
            names |= {e["name"] for e in c.get("env", [])}
            for line in c.get("command", [])[2:3] or [" ".join(["stir", *c.get("args", [])])]:
                for part in line.split("&&"):
                    words = part.split()
                    assert words[0] == "stir", part
                    group = commands.commands[words[1]]
                    assert len(words) < 3 or words[2] in group.commands, part
    assert names <= known, sorted(names - known)


def test_no_credential_is_written_in_them():
    text = "\n".join(f.read_text() for f in K8S.glob("*.yaml"))
    assert not re.search(r"(?i)(password|secret|token)\s*[:=]\s*['\"]?[A-Za-z0-9+/]{12,}", text)
    for d in _docs():
        for c in _containers(d):
            for e in c.get("env", []):
                if re.search(r"DSN|PASSWORD|TOKEN", e["name"]):
                    assert "valueFrom" in e, e["name"]
