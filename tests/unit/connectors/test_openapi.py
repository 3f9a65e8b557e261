"""The ingest API's OpenAPI document: valid OpenAPI 3.1, the same as the committed `docs/openapi.json`, in
agreement with the Avro contracts field by field, and its examples (one per event type) accepted by the API's own
validation and by the document's schemas. The Python client's requests are bodies the document describes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from connectors.ingest.examples import example
from connectors.ingest.openapi import document, render
from connectors.ingest.settings import IngestSettings
from connectors.ingest.tokens import Principal
from connectors.ingest.transform import Accepted, transform_item
from connectors.ingest_client import IngestClient
from schemas.registry import INGEST_TYPES, contracts

DOC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


@pytest.fixture
def defaults(monkeypatch) -> IngestSettings:
    for name in [n for n in os.environ if n.startswith("STIR_INGEST_")]:
        monkeypatch.delenv(name)
    return IngestSettings()


def schema_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A component schema that resolves its references inside the document."""
    return {**doc["components"]["schemas"][name], "components": doc["components"]}


def test_the_document_is_valid_openapi_3_1_and_is_the_committed_one(defaults):
    doc = document(defaults)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    stale = "docs/openapi.json is stale: run `stir ingest openapi --out docs/openapi.json`"
    assert json.loads(DOC.read_text()) == doc, stale
    assert DOC.read_text() == render(defaults)


def test_each_event_type_has_its_contracts_fields_and_required_fields(defaults):
    doc = document(defaults)
    mapping = doc["components"]["schemas"]["Event"]["discriminator"]["mapping"]
    assert set(mapping) == set(INGEST_TYPES)
    for t in INGEST_TYPES:
        avro = contracts()[t].schema
        s = doc["components"]["schemas"][mapping[t].rsplit("/", 1)[1]]
        assert list(s["properties"]) == ["type", *(f["name"] for f in avro["fields"])], t
        optional = {f["name"] for f in avro["fields"] if "default" in f}
        assert set(s["required"]) == {"type"} | {f["name"] for f in avro["fields"]} - optional, t
        assert s["properties"]["type"] == {"const": t, "description": "the event type"}
        assert s["additionalProperties"] is False


@pytest.mark.parametrize("event_type", INGEST_TYPES)
def test_the_example_of_each_type_is_accepted_by_the_api_and_the_document(defaults, event_type):
    doc = document(defaults)
    item = example(event_type)
    jsonschema.validate(item, schema_of(doc, "Event"))
    jsonschema.validate([item], schema_of(doc, "Batch"))
    got = transform_item(json.dumps(item).encode(), 0, Principal("t", ("*",)), int(time.time() * 1000), 10**6)
    assert isinstance(got, Accepted), got


def test_a_wrong_item_fails_the_document_too(defaults):
    doc = document(defaults)
    bad = {**example("activity.api.call"), "status_code": "200"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema_of(doc, "Event"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example("activity.api.call"), "type": "social.nope"}, schema_of(doc, "Event"))


def test_the_clients_requests_are_what_the_document_describes(defaults):
    """The client's NDJSON lines are items of the document's Event schema, and it reads the documented answers."""
    doc = document(defaults)
    seen: list[dict[str, Any]] = []

    def api(request: httpx.Request) -> httpx.Response:
        assert request.headers["Content-Type"] == "application/x-ndjson"
        assert request.headers["Authorization"] == "Bearer tkn"
        items = [json.loads(line) for line in request.content.split(b"\n")]
        seen.extend(items)
        results = [{"index": i, "status": "accepted", "event_id": it["event_id"]} for i, it in enumerate(items)]
        answer = {"accepted": len(items), "rejected": 0, "results": results}
        jsonschema.validate(answer, schema_of(doc, "BatchAnswer"))
        return httpx.Response(200, json=answer)

    client = IngestClient("http://ingest.test", "tkn", batch_size=3)
    client.http = httpx.Client(transport=httpx.MockTransport(api), headers=client.http.headers)
    with client:
        for t in INGEST_TYPES:
            fields = {k: v for k, v in example(t).items() if k not in ("type", "event_id", "event_time", "source")}
            client.send(t, fields)
    assert len(seen) == len(INGEST_TYPES) and client.stats.accepted == len(INGEST_TYPES)
    for item in seen:
        jsonschema.validate(item, schema_of(doc, "Event"))


def test_the_producers_guide_shows_the_example_of_every_type():
    from connectors.ingest.examples import markdown

    guide = (DOC.parent / "ingest-api.md").read_text()
    marker = "## One example per event type\n\n"
    assert marker in guide and guide.split(marker, 1)[1] == markdown(), "regenerate docs/ingest-api.md's examples"
    assert all(f"### `{t}`" in guide for t in INGEST_TYPES)
