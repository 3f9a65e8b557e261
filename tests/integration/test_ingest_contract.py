"""The ingest API against its OpenAPI document, on a real broker: the served document is the committed one, and
schemathesis (its examples, coverage and fuzzing phases, positive and negative data, every check) finds no server
error and no answer outside the document; every item it got refused is in the dead-letter topic with its reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connectors.ingest.examples import example
from schemas.kafka import end_offsets
from schemas.registry import INGEST_TYPES
from tests.support.ingest_server import ingest_server
from tests.support.kafka import consume

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def dead_letters_owed(interaction: dict[str, Any]) -> int:
    """How many dead letters one recorded exchange with POST /v1/events promises."""
    if not interaction["request"]["uri"].endswith("/v1/events"):
        return 0
    status = int(interaction["response"]["status"]["code"])
    if status == 413:  # an oversized body or too many items: the body (its first bytes) is dead-lettered
        return 1
    try:
        body = json.loads(interaction["response"]["body"]["string"])
    except (KeyError, ValueError):
        return 0
    if "results" in body:
        return sum(1 for r in body["results"] if r["status"] == "rejected" and r.get("dead_lettered", True))
    return 1 if status == 422 else 0  # the body as a whole was not JSON


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(stack, tmp_path, uid):
    with ingest_server(tmp_path, f"oa{uid}.") as srv:
        served = httpx.get(f"{srv.url}/openapi.json", timeout=10)
        assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/json")
        assert served.json() == json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
        for t in INGEST_TYPES:  # the guide's example of each type, as posted
            r = httpx.post(f"{srv.url}/v1/events", json=example(t), headers={"Authorization": f"Bearer {srv.token}"})
            assert (r.status_code, r.json()["accepted"]) == (200, 1), r.text
        cassette = tmp_path / "cassette.yaml"
        run = subprocess.run(
            [str(SCHEMATHESIS), "--config-file", str(REPO_ROOT / "tests" / "support" / "schemathesis.toml"), "run",
             f"{srv.url}/openapi.json", "-H", f"Authorization: Bearer {srv.token}", "--checks", "all",
             "--mode", "all", "--max-examples", "100", "--seed", "7", "--no-color", "--report", "vcr",
             "--report-vcr-path", str(cassette), "--generation-database", "none"],
            cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
                               "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True, text=True, timeout=420,  # below pytest-timeout, so its output is kept
        )  # fmt: skip
        summary = run.stdout[run.stdout.rfind("SUMMARY") :]
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "No issues found" in summary, summary
        interactions = yaml.safe_load(cassette.read_text())["http_interactions"]
        events = [i for i in interactions if i["request"]["uri"].endswith("/v1/events")]
        statuses = {int(i["response"]["status"]["code"]) for i in events}
        assert len(events) > 300 and {200, 401, 422} <= statuses and not {s for s in statuses if s >= 500}
        owed = sum(dead_letters_owed(i) for i in events)
        dlq = srv.prefix + "dlq.ingest"
        assert owed > 100 and end_offsets(stack.bootstrap, [dlq]) == owed
        letters = consume(stack.bootstrap, dlq, f"oa-{uid}", count=owed, timeout_s=60)
        assert len(letters) == owed
        for m in letters:
            headers = dict(m.headers() or [])
            assert headers["dlq.reason"] and headers["dlq.code"] and headers["dlq.source"] == b"ingest"
        print(f"schemathesis: {len(events)} requests to POST /v1/events, statuses {sorted(statuses)}, "
              f"{owed} dead letters; {summary.splitlines()[-1] if summary else ''}")  # fmt: skip
