"""`stir doctor` names a taken port with its holder and the setting that moves it, and a missing service user."""

from __future__ import annotations

import os
import socket

from deploy.local.doctor import checks
from deploy.local.settings import StackSettings


def test_a_taken_port_is_named_with_its_holder(monkeypatch, tmp_path):
    monkeypatch.setenv("STIR_STATE_DIR", str(tmp_path))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setenv("STIR_KAFKA_PORT", str(port))
        found = {c.name: c for c in checks(StackSettings())}
    taken = found[f"port {port}"]
    assert not taken.ok and f"pid {os.getpid()} " in taken.detail and "STIR_KAFKA_PORT" in taken.detail
    assert found["disk"].ok and found["state dir"].ok


def test_a_missing_service_user_is_a_failed_check(monkeypatch, tmp_path):
    monkeypatch.setenv("STIR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("STIR_SERVICE_OS_USER", "no-such-user-here")
    found = {c.name: c for c in checks(StackSettings())}
    if os.geteuid() == 0:  # the user matters only when the stack is started as root
        assert not found["service user"].ok and "STIR_SERVICE_OS_USER" in found["service user"].detail
    else:
        assert "service user" not in found
