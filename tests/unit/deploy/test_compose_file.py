"""deploy/compose.yaml: the production-like deployment file is valid and keeps its secrets out."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.local.setup import compose_command

COMPOSE = Path(__file__).resolve().parents[3] / "deploy" / "compose.yaml"
REQUIRED_ENV = ["STIR_KAFKA_CLUSTER_ID"]


def _config(env_file: Path) -> subprocess.CompletedProcess[str]:
    cmd = compose_command()
    if cmd is None:
        pytest.skip("no docker compose client here (make setup installs one)")
    return subprocess.run(
        [*cmd, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True
    )


def test_compose_config_is_valid(tmp_path):
    env = tmp_path / "test.env"
    env.write_text("".join(f"{k}=test-value\n" for k in REQUIRED_ENV))
    res = _config(env)
    assert res.returncode == 0, res.stderr


def test_compose_refuses_to_start_without_secrets(tmp_path):
    env = tmp_path / "empty.env"
    env.write_text("# no secrets\n")
    res = _config(env)
    assert res.returncode != 0
    assert "STIR_KAFKA_CLUSTER_ID" in res.stderr


def test_compose_has_no_literal_secrets_and_healthchecks():
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if re.search(r"PASSWORD\s*:", line):
            assert "${" in line, f"literal secret in compose.yaml: {line.strip()}"
    doc = yaml.safe_load(text)
    services = doc["services"]
    assert {"postgres", "kafka", "connect", "clickhouse", "prometheus", "grafana"} <= set(services)
    for name, svc in services.items():
        assert "healthcheck" in svc, f"{name} has no healthcheck"
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    named = set(doc["volumes"])
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert used <= named


def test_every_password_is_a_secret_file():
    """No password in compose's environment: services get them as Docker secrets (``*_FILE`` or read by the
    entrypoint), each a file under deploy/secrets/; Grafana reads ClickHouse as the read-only user."""
    doc = yaml.safe_load(COMPOSE.read_text())
    for name, svc in doc["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), f"{name}: {key}"
        for entry in svc.get("secrets", []):
            source = entry["source"] if isinstance(entry, dict) else entry
            assert doc["secrets"][source]["file"].startswith("./secrets/"), source
    connect = doc["services"]["connect"]["environment"]
    assert connect["CONNECT_REST_EXTENSION_CLASSES"].endswith("BasicAuthSecurityRestExtension")
    assert connect["CONNECT_CONFIG_PROVIDERS_FILE_PARAM_ALLOWED_PATHS"] == "/run/secrets"
    assert doc["services"]["grafana"]["environment"]["STIR_GRAFANA_CH_USER"] == "reader"
    datasource = (COMPOSE.parent / "grafana" / "provisioning" / "datasources" / "stir.yaml").read_text()
    for var in re.findall(r"\$\{(STIR_[A-Z_]+)\}", datasource):  # every variable the data source file reads
        assert var in doc["services"]["grafana"]["environment"] or var in doc["services"]["grafana"]["entrypoint"][-1]
