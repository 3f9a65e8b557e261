"""The ingest API's OpenAPI 3.1 document, generated from the contracts: one schema per event type (its pydantic
model's JSON Schema, with the ``type`` that names it), the batch and per-item answers, every status code with its
body, the bearer scheme and its scopes. Served at ``/openapi.json``; ``docs/openapi.json`` is the same document
for the default settings (``stir ingest openapi --out docs/openapi.json`` writes it; a test compares them)."""

from __future__ import annotations

import json
from typing import Any

from connectors.ingest.examples import example
from connectors.ingest.settings import IngestSettings
from schemas.registry import INGEST_TYPES, contracts

REF = "#/components/schemas/{model}"
CODES = ("invalid_json", "not_an_object", "missing_type", "unknown_type", "forbidden", "invalid", "oversized",
         "too_deep")  # fmt: skip  # transform.Rejected.code


def _name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split("."))


def event_schema(event_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema of one posted item of ``event_type`` and the definitions it refers to."""
    schema = contracts()[event_type].model.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    schema["properties"] = {"type": {"const": event_type, "description": "the event type"}, **schema["properties"]}
    schema["required"] = ["type", *schema.get("required", [])]
    # the API stamps it: whatever is sent (of any type) is replaced, so any value is valid
    schema["properties"]["ingested_at"] = {"description": "set by the API when it takes the event; a value sent "
                                           "is replaced"}  # fmt: skip
    schema["properties"]["event_time"]["description"] = (
        "when it happened, epoch milliseconds; at most STIR_INGEST_MAX_FUTURE_SKEW_S past the API's clock"
    )
    schema["title"] = _name(event_type)
    schema["examples"] = [example(event_type)]
    return schema, defs


def _error(description: str) -> dict[str, Any]:
    return {"type": "object", "required": ["error"], "description": description,
            "properties": {"error": {"type": "string", "description": "what is wrong and what to do"}}}  # fmt: skip


def _answer(status: int, description: str, schema: str, retry: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": {"$ref": REF.format(model=schema)}}}}  # fmt: skip
    if retry:
        out["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
    if status == 401:
        out["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    return out


def _content(description: str, media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _open(summary: str, operation: str, responses: dict[str, Any]) -> dict[str, Any]:
    """An operation that answers without a token (it tells nothing a token would guard)."""
    return {"summary": summary, "operationId": operation, "security": [], "responses": responses}


def document(settings: IngestSettings | None = None) -> dict[str, Any]:
    s = settings or IngestSettings()
    schemas: dict[str, Any] = {}
    for t in INGEST_TYPES:
        schema, defs = event_schema(t)
        schemas[_name(t)] = schema
        schemas.update(defs)
    refs = [{"$ref": REF.format(model=_name(t))} for t in INGEST_TYPES]
    schemas["Event"] = {"oneOf": refs, "discriminator": {"propertyName": "type", "mapping": {
        t: REF.format(model=_name(t)) for t in INGEST_TYPES}}}  # fmt: skip
    schemas["Batch"] = {"oneOf": [{"$ref": REF.format(model="Event")},
                                  {"type": "array", "items": {"$ref": REF.format(model="Event")},
                                   "maxItems": s.max_batch_items}]}  # fmt: skip
    schemas["ItemAnswer"] = {"oneOf": [
        {"type": "object", "required": ["index", "status", "event_id"], "additionalProperties": False,
         "properties": {"index": {"type": "integer", "minimum": 0}, "status": {"const": "accepted"},
                        "event_id": {"type": "string"}}},
        {"type": "object", "required": ["index", "status", "code", "reason"], "additionalProperties": False,
         "properties": {"index": {"type": "integer", "minimum": 0}, "status": {"const": "rejected"},
                        "code": {"enum": list(CODES)}, "reason": {"type": "string"},
                        "dead_lettered": {"const": False, "description": "only when the dead-letter write failed"}}},
        {"type": "object", "required": ["index", "status", "reason"], "additionalProperties": False,
         "properties": {"index": {"type": "integer", "minimum": 0}, "status": {"const": "retry"},
                        "reason": {"type": "string"}}},
    ]}  # fmt: skip
    schemas["BatchAnswer"] = {"type": "object", "required": ["accepted", "rejected", "results"], "properties": {
        "accepted": {"type": "integer", "minimum": 0}, "rejected": {"type": "integer", "minimum": 0},
        "results": {"type": "array", "items": {"$ref": REF.format(model="ItemAnswer")},
                    "description": "one answer per item, in the order of the batch"}}}  # fmt: skip
    schemas["BodyRejected"] = {"type": "object", "required": ["error", "accepted", "rejected"], "properties": {
        "error": {"type": "string"}, "accepted": {"const": 0}, "rejected": {"const": 1}},
        "description": "the body as a whole is not JSON, an array of objects or JSON lines"}  # fmt: skip
    schemas["Error"] = _error("the request was not read (no item is answered)")
    schemas["BatchOrBody"] = {"oneOf": [{"$ref": REF.format(model="BatchAnswer")},
                                        {"$ref": REF.format(model="BodyRejected")}]}  # fmt: skip
    schemas["BatchOrError"] = {"oneOf": [{"$ref": REF.format(model="BatchAnswer")},
                                         {"$ref": REF.format(model="Error")}]}  # fmt: skip
    schemas["Health"] = {"type": "object", "required": ["status"],
                         "properties": {"status": {"enum": ["ok", "unhealthy"]}}}  # fmt: skip
    events = {
        "summary": "Post events (one, a JSON array, or JSON lines)",
        "description": (
            "Each item is validated against its event type's contract. Accepted means acknowledged by Kafka "
            "(acks=all); every rejected item, and every rejected body, goes to the dead-letter topic with its "
            f"original bytes and its reason. At most {s.max_batch_items} items and {s.max_body_bytes} bytes a "
            f"request, {s.max_event_bytes} bytes an item. A token writes the event types its scopes match."),
        "operationId": "postEvents",
        "security": [{"bearer": [*INGEST_TYPES]}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": REF.format(model="Batch")},
                                 "example": [example(t) for t in INGEST_TYPES[:2]]},
            "application/x-ndjson": {"schema": {"type": "string", "description": "one event (JSON object) a line"}},
        }},
        "responses": {
            "200": _answer(200, "at least one item accepted, or none sent (an empty array or no lines); the body "
                           "answers each item", "BatchAnswer"),
            "401": _answer(401, "missing, unknown, revoked or expired bearer token", "Error"),
            "403": _answer(403, "the token may write none of the items' event types", "BatchAnswer"),
            "413": _answer(413, "body or batch too large (the body is dead-lettered)", "Error"),
            "422": _answer(422, "nothing valid: every item, or the body, rejected", "BatchOrBody"),
            "429": _answer(429, "saturated, too many requests of this token in flight, or items Kafka could not "
                           "queue: retry after Retry-After", "BatchOrError", retry=True),
            "503": _answer(503, "Kafka did not acknowledge in time: retry the items answered 'retry'",
                           "BatchOrError", retry=True),
        },
    }  # fmt: skip
    health = _open(
        "Liveness and Kafka reachability",
        "health",
        {"200": _answer(200, "ok", "Health"), "503": _answer(503, "Kafka does not answer", "Health")},
    )
    metrics = _open(
        "Prometheus metrics", "metrics", {"200": _content("the exposition format", "text/plain", {"type": "string"})}
    )
    spec = _open("This document", "openapi", {"200": _content("OpenAPI 3.1", "application/json", {"type": "object"})})
    return {
        "openapi": "3.1.0",
        "info": {"title": "Stir Stream ingest API", "version": "1",
                 "description": "Producers (scrapers, apps) post events; each lands on its event type's Kafka topic."},
        "paths": {"/v1/events": {"post": events}, "/healthz": {"get": health}, "/metrics": {"get": metrics},
                  "/openapi.json": {"get": spec}},
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "a token from `stir ingest token NAME --scope PATTERN`; its scopes are event-type "
                           "patterns (`social.*`, `activity.auth.attempt`, `*`)"}}},
        "security": [{"bearer": []}],
    }  # fmt: skip


def render(settings: IngestSettings | None = None) -> str:
    return json.dumps(document(settings), indent=2, sort_keys=False) + "\n"
