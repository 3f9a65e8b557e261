"""`stir up` when a port is taken: the error names the port, its holder and the setting that moves it, and what
that start had started is stopped again (a separate stack on free ports, beside the test session's one)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from deploy.local.ports import in_use
from deploy.local.services import all_services
from deploy.local.settings import StackSettings
from deploy.local.stack import StackError, up
from tests.support.ingest_server import free_port

pytestmark = pytest.mark.integration
SETTINGS = ("STIR_PG_PORT", "STIR_KAFKA_PORT", "STIR_KAFKA_CONTROLLER_PORT", "STIR_CONNECT_PORT")


def test_each_taken_port_is_named_and_nothing_is_left_running(monkeypatch):
    # under /var/tmp: the unprivileged user that runs the services must reach it (pytest's tmp is root's only)
    state = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="stir-ports-"))
    os.chmod(state, 0o755)
    ports = {name: free_port() for name in SETTINGS}
    monkeypatch.setenv("STIR_STATE_DIR", str(state))
    for name, port in ports.items():
        monkeypatch.setenv(name, str(port))
    settings = StackSettings()
    try:
        for name, port in ports.items():
            with socket.socket() as squatter:
                squatter.bind((settings.bind_host, port))
                squatter.listen()
                with pytest.raises(StackError) as failed:
                    up(settings)
                message = str(failed.value)
                assert f"port {port}" in message and name in message, message
                assert f"pid {os.getpid()} " in message, message  # the holder, by pid and name
                assert not [s.name for s in all_services(settings) if s.proc.running() is not None], message
                others = [p for n, p in ports.items() if n != name]
                assert not [p for p in others if in_use(settings.bind_host, p)], message
                if name == "STIR_CONNECT_PORT":  # PostgreSQL and Kafka had started: the error says so
                    assert "stopped what this start had started: postgres, kafka" in message, message
    finally:
        for svc in all_services(settings):
            svc.stop()
        shutil.rmtree(state, ignore_errors=True)
