"""The contracts: one Avro schema per event type, its topic, its key field and its pydantic model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from schemas import topics
from schemas.models import MODELS, Event

AVRO_DIR = Path(__file__).with_name("avro")

# Event types producers may post to the ingest API (the others are written by the stream processors).
INGEST_TYPES = topics.INGEST_TYPES


@dataclass(frozen=True)
class Contract:
    topic: str
    key_field: str
    schema: dict[str, Any]
    model: type[Event]

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.schema["fields"]]

    def key_of(self, event: Event) -> str:
        return str(getattr(event, self.key_field))

    def encode(self, event: Event) -> bytes:
        """The wire form of one event: compact JSON, fields in schema order (one JSON line)."""
        return event.model_dump_json().encode()


def load_schema(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@cache
def contracts() -> dict[str, Contract]:
    out = {}
    for path in sorted(AVRO_DIR.glob("*.avsc")):
        schema = load_schema(path)
        topic = schema["stir.topic"]
        if path.stem != topic:
            raise ValueError(f"{path.name}: file name must be the topic name {topic!r}")
        if topic not in MODELS:
            raise ValueError(f"{path.name}: no pydantic model for {topic}")
        out[topic] = Contract(topic, schema["stir.key"], schema, MODELS[topic])
    missing = set(MODELS) - set(out)
    if missing:
        raise ValueError(f"models without an .avsc contract: {sorted(missing)}")
    return out


def contract(topic: str) -> Contract:
    try:
        return contracts()[topic]
    except KeyError:
        raise KeyError(f"unknown event type {topic!r}") from None


def contract_of_topic(topic: str) -> Contract | None:
    """The contract of a topic name that may carry a deployment prefix (``dev.social.post.snapshot``), or None
    for topics without one (CDC, internal, DLQ)."""
    return next((c for name, c in contracts().items() if topic == name or topic.endswith("." + name)), None)
