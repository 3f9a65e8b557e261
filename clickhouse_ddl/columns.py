"""ClickHouse column lists generated from the Avro contracts (never hand-copied per table).

A source (queue) table keeps the wire types: JSONEachRow reads an integer into ``DateTime64`` as seconds,
so ``timestamp-millis`` fields arrive as ``Int64`` and the materialized view converts them; target tables
get the typed columns. Enums become ``LowCardinality(String)``; ``["null", T]`` becomes ``Nullable(T)``; maps
become ``Map(String, T)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.registry import contracts

_PRIMITIVE = {"string": "String", "int": "Int32", "long": "Int64", "double": "Float64", "float": "Float32",
              "boolean": "Bool"}  # fmt: skip
TIMESTAMP = "DateTime64(3, 'UTC')"


@dataclass(frozen=True)
class Column:
    name: str
    wire_type: str  # the source table's type
    type: str  # the target table's type
    millis: bool  # a timestamp-millis field: converted in the materialized view

    @property
    def select(self) -> str:
        if not self.millis:
            return self.name
        return f"fromUnixTimestamp64Milli({self.name}, 'UTC') AS {self.name}"


def _types(avro: Any) -> tuple[str, str, bool]:
    if isinstance(avro, list):
        inner = [t for t in avro if t != "null"]
        if len(inner) != 1 or "null" not in avro:
            raise ValueError(f'unsupported union {avro!r}: only ["null", T]')
        wire, typed, millis = _types(inner[0])
        return f"Nullable({wire})", f"Nullable({typed})", millis
    if isinstance(avro, dict):
        logical = avro.get("logicalType")
        if logical == "timestamp-millis":
            return "Int64", TIMESTAMP, True
        if logical == "uuid":
            return "UUID", "UUID", False
        if avro.get("type") == "enum":
            return "LowCardinality(String)", "LowCardinality(String)", False
        if avro.get("type") == "map":  # JSON objects: JSONEachRow reads them into a Map as they are
            wire, typed, _ = _types(avro["values"])
            return f"Map(String, {wire})", f"Map(String, {typed})", False
        return _types(avro["type"])
    if avro in _PRIMITIVE:
        return _PRIMITIVE[avro], _PRIMITIVE[avro], False
    raise ValueError(f"unsupported Avro type {avro!r}")


def columns(topic: str) -> list[Column]:
    try:
        contract = contracts()[topic]
    except KeyError:
        raise ValueError(f"no contract for topic {topic!r}") from None
    out = []
    for f in contract.schema["fields"]:
        wire, typed, millis = _types(f["type"])
        out.append(Column(f["name"], wire, typed, millis))
    return out


# Kafka engine virtual columns (with kafka_handle_error_mode='stream'): ordinary columns of the Null source table,
# filled by its Kafka engine front's view, so the migrations' views read them by these names.
META_COLUMNS = [
    ("_topic", "LowCardinality(String)"),
    ("_partition", "UInt64"),
    ("_offset", "UInt64"),
    ("_timestamp_ms", "Nullable(DateTime64(3))"),
    ("_raw_message", "String"),
    ("_error", "String"),
]
