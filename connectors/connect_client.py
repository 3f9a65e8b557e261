"""A small Kafka Connect REST client: apply a connector idempotently and wait for it to run."""

from __future__ import annotations

import builtins
import time
from typing import Any

import httpx


class ConnectError(RuntimeError):
    pass


class ConnectClient:
    def __init__(self, base_url: str, auth: tuple[str, str] | None = None, timeout_s: float = 10.0) -> None:
        """``auth``: the REST API's basic-auth user and password (``CoreSettings.connect_auth()``)."""
        self.base = base_url.rstrip("/")
        self.http = httpx.Client(timeout=timeout_s, auth=auth)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, r: httpx.Response) -> httpx.Response:
        if r.status_code >= 400:
            hint = ""
            if r.status_code == 401:
                hint = " (Connect wants credentials: STIR_CONNECT_USER / STIR_CONNECT_PASSWORD)"
            raise ConnectError(f"{r.request.method} {r.request.url.path}: HTTP {r.status_code}{hint}: {r.text[:2000]}")
        return r

    def apply(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        """Create or update: ``PUT /connectors/<name>/config`` (idempotent)."""
        body = {k: str(v) for k, v in config.items()}
        body["name"] = name
        # Connect answers 409 while a rebalance is in progress: retry briefly.
        deadline = time.monotonic() + 60
        while True:
            r = self.http.put(f"{self.base}/connectors/{name}/config", json=body)
            if r.status_code != 409 or time.monotonic() > deadline:
                return dict(self._check(r).json())
            time.sleep(0.5)

    def status(self, name: str) -> dict[str, Any] | None:
        r = self.http.get(f"{self.base}/connectors/{name}/status")
        if r.status_code == 404:
            return None
        return dict(self._check(r).json())

    def list(self) -> list[str]:
        return list(self._check(self.http.get(f"{self.base}/connectors")).json())

    def delete(self, name: str) -> bool:
        r = self.http.delete(f"{self.base}/connectors/{name}")
        if r.status_code == 404:
            return False
        self._check(r)
        return True

    def offsets(self, name: str) -> builtins.list[dict[str, Any]]:
        """The source offsets the connector has committed (``GET /connectors/<name>/offsets``): its records up to
        them are in Kafka. Empty for an unknown connector or one that committed none yet."""
        r = self.http.get(f"{self.base}/connectors/{name}/offsets")
        if r.status_code == 404:
            return []
        return [dict(o) for o in self._check(r).json().get("offsets") or []]

    def restart(self, name: str) -> None:
        self._check(self.http.post(f"{self.base}/connectors/{name}/restart?includeTasks=true&onlyFailed=false"))

    def wait_running(self, name: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Wait until the connector and all its tasks are RUNNING; raise with the trace on FAILED."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.status(name)
            if last is not None:
                states = [last["connector"]["state"]] + [t["state"] for t in last.get("tasks", [])]
                failed = [t for t in last.get("tasks", []) if t["state"] == "FAILED"]
                if last["connector"]["state"] == "FAILED" or failed:
                    trace = (failed[0] if failed else last["connector"]).get("trace", "")
                    raise ConnectError(f"connector {name} FAILED: {trace[:3000]}")
                if last.get("tasks") and all(s == "RUNNING" for s in states):
                    return last
            time.sleep(0.2)
        raise ConnectError(f"connector {name} not RUNNING after {timeout_s:.0f}s: {last}")
