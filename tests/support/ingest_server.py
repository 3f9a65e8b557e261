"""Start the real ingest API (`stir ingest serve`) as a subprocess for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from connectors.ingest.settings import IngestSettings
from connectors.ingest.tokens import TokenStore
from deploy.local.process import wait_until


@dataclass
class IngestServer:
    url: str
    token: str
    scraper_token: str
    prefix: str
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ingest_server(workdir: Path, prefix: str, **env: str) -> Iterator[IngestServer]:
    state = workdir / "state"
    store = TokenStore(IngestSettings(topic_prefix=prefix, state_dir=state).tokens_file)
    token = store.create("test-all", ["*"])
    scraper = store.create("test-scraper", ["social.*"])
    port = free_port()
    log = workdir / "ingest.log"
    full_env = {
        **os.environ,
        "STIR_INGEST_PORT": str(port),
        "STIR_STATE_DIR": str(state),
        "STIR_TOPIC_PREFIX": prefix,
        **{f"STIR_INGEST_{k.upper()}": v for k, v in env.items()},
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "ingest", "serve"], env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"

    def up_or_dead() -> bool:
        return proc.poll() is not None or httpx.get(f"{url}/healthz", timeout=1).status_code == 200

    try:
        wait_until(up_or_dead, 60)
        assert proc.poll() is None, f"ingest API exited: {log.read_text()[-2000:]}"
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200, log.read_text()[-2000:]
        yield IngestServer(url, token, scraper, prefix, log)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
