"""StackSettings (the local runtime): defaults avoid standard ports, env overrides work, bad values name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from deploy.cli import app
from deploy.local.settings import StackSettings


def test_defaults_do_not_collide_with_standard_ports(monkeypatch):
    for var in ("STIR_PG_PORT", "STIR_KAFKA_PORT", "STIR_CONNECT_PORT", "STIR_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    s = StackSettings()
    assert s.pg_port != 5432 and s.kafka_port != 9092 and s.connect_port != 8083
    assert len({s.pg_port, s.kafka_port, s.kafka_controller_port, s.connect_port}) == 4
    assert s.bind_host == "127.0.0.1"
    assert s.bootstrap == f"127.0.0.1:{s.kafka_port}"
    assert s.managed() == ["postgres", "kafka", "connect"]


def test_env_prefix_and_external_endpoints(monkeypatch, tmp_path):
    monkeypatch.setenv("STIR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("STIR_KAFKA_BOOTSTRAP", "broker.example:9092")
    monkeypatch.setenv("STIR_CONNECT_URL", "http://connect.example:8083/")
    s = StackSettings()
    assert s.state_dir == (tmp_path / "state").resolve()
    assert s.bootstrap == "broker.example:9092"
    assert s.connect_rest == "http://connect.example:8083"
    assert s.managed() == ["postgres"]


def test_external_dsn_is_secret(monkeypatch):
    monkeypatch.setenv("STIR_PG_DSN", "host=db user=u password=hunter2 dbname=x")
    s = StackSettings()
    assert "hunter2" not in repr(s)
    assert s.dsn() == "host=db user=u password=hunter2 dbname=x"
    assert s.managed() == ["kafka", "connect"]


@pytest.mark.parametrize(
    ("var", "value", "field"),
    [("STIR_PG_PORT", "80", "STIR_PG_PORT"), ("STIR_KAFKA_PORT", "not-a-port", "STIR_KAFKA_PORT"),
     ("STIR_KAFKA_HEAP", "lots", "kafka_heap")],
)  # fmt: skip
def test_bad_value_names_the_field(monkeypatch, var, value, field):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as exc:
        StackSettings()
    assert field in str(exc.value)


def test_cli_reports_bad_config_on_stderr_with_field_name(monkeypatch):
    monkeypatch.setenv("STIR_CONNECT_PORT", "99999")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "STIR_CONNECT_PORT" in result.stderr
