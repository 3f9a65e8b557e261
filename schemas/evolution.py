"""The evolution rule for contracts: new fields are optional with defaults; nothing is removed or retyped.

Enum types may gain symbols at the end (readers of the new schema read old data); removing or reordering
symbols is a breaking change.
"""

from __future__ import annotations

from typing import Any


def _type_sig(t: Any) -> Any:
    """A comparable signature of an Avro type (names, primitives, logical types, enum symbols)."""
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return tuple(_type_sig(x) for x in t)
    kind = t["type"]
    if kind == "enum":
        return ("enum", t["name"], tuple(t["symbols"]))
    if kind == "record":
        return ("record", t["name"], tuple((f["name"], _type_sig(f["type"])) for f in t["fields"]))
    if kind in ("array", "map"):
        return (kind, _type_sig(t.get("items", t.get("values"))))
    return (kind, t.get("logicalType"))


def _enum_grew(old: Any, new: Any) -> bool:
    """True when ``new`` is ``old`` with symbols added at the end (anywhere in a union)."""
    o, n = _type_sig(old), _type_sig(new)
    if isinstance(o, tuple) and isinstance(n, tuple) and len(o) == len(n) and o and o[0] != "enum":
        return all(a == b or _enum_grew_sig(a, b) for a, b in zip(o, n, strict=True))
    return _enum_grew_sig(o, n)


def _enum_grew_sig(o: Any, n: Any) -> bool:
    return (
        isinstance(o, tuple)
        and isinstance(n, tuple)
        and len(o) == 3
        and len(n) == 3
        and o[0] == n[0] == "enum"
        and o[1] == n[1]
        and n[2][: len(o[2])] == o[2]
    )


def check_evolution(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Problems that make ``new`` an incompatible successor of ``old`` (empty list: compatible)."""
    problems = []
    if old.get("name") != new.get("name") or old.get("namespace") != new.get("namespace"):
        problems.append(
            f"record renamed: {old.get('namespace')}.{old.get('name')} -> {new.get('namespace')}.{new.get('name')}"
        )
    if old.get("stir.key") != new.get("stir.key"):
        problems.append(f"key field changed: {old.get('stir.key')} -> {new.get('stir.key')}")
    old_fields = {f["name"]: f for f in old["fields"]}
    new_fields = {f["name"]: f for f in new["fields"]}
    for name, f in old_fields.items():
        if name not in new_fields:
            problems.append(f"field removed: {name}")
            continue
        if _type_sig(f["type"]) != _type_sig(new_fields[name]["type"]) and not _enum_grew(
            f["type"], new_fields[name]["type"]
        ):
            problems.append(f"field {name}: type changed")
        if "default" in f and new_fields[name].get("default", object()) != f["default"]:
            problems.append(f"field {name}: default changed or removed")
    for name, f in new_fields.items():
        if name in old_fields:
            continue
        t = f["type"]
        if not (isinstance(t, list) and t and t[0] == "null" and "default" in f and f["default"] is None):
            problems.append(f"new field {name} must be optional: type ['null', …] with default null")
    return problems
