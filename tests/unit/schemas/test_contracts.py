"""Every pydantic model mirrors its Avro contract, and contracts only evolve compatibly."""

from __future__ import annotations

import itertools
import json
import subprocess
import types
import typing
from pathlib import Path
from typing import Any

import fastavro
import pytest
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from schemas.bounds import Wire
from schemas.evolution import check_evolution
from schemas.models import MODELS
from schemas.registry import AVRO_DIR, contracts

REPO = Path(__file__).resolve().parents[3]


# ---- describe both sides in one vocabulary ---------------------------------------------------------
def avro_sig(t: Any) -> tuple[str, bool]:
    """(type, nullable) of an Avro field type."""
    nullable = False
    if isinstance(t, list):
        assert t[0] == "null" and len(t) == 2, f"only ['null', T] unions are used: {t}"
        nullable, t = True, t[1]
    if isinstance(t, str):
        return {"long": "long", "int": "int", "string": "string", "double": "double", "boolean": "boolean"}[t], nullable
    if t["type"] == "enum":
        return "enum:" + ",".join(t["symbols"]), nullable
    if t["type"] == "map":
        return f"map<{t['values']}>", nullable
    return f"{t['type']}/{t['logicalType']}", nullable


def model_sig(info: FieldInfo) -> tuple[str, bool]:
    """(type, nullable) of a model field: its ``Wire`` marker (schemas/bounds.py), or the plain Python type."""
    ann: Any = info.annotation
    nullable = False
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(ann))
        (ann,) = args
    metadata = list(info.metadata)
    if typing.get_origin(ann) is typing.Annotated:
        ann, *extra = typing.get_args(ann)
        metadata += extra
    if typing.get_origin(ann) is typing.Literal:
        return "enum:" + ",".join(typing.get_args(ann)), nullable
    wire = next((m.avro for m in metadata if isinstance(m, Wire)), None)
    if wire is not None:
        return wire, nullable
    assert ann is bool, f"{ann}: a bare type without a Wire marker (use the aliases of schemas/bounds.py)"
    return "boolean", nullable


@pytest.mark.parametrize("topic", sorted(MODELS))
def test_model_mirrors_schema(topic):
    c = contracts()[topic]
    fastavro.parse_schema(c.schema)  # a valid Avro schema
    fields = c.schema["fields"]
    model_fields = c.model.model_fields
    # names and order, both directions
    assert [f["name"] for f in fields] == list(model_fields), "field names/order differ"
    for f in fields:
        info = model_fields[f["name"]]
        assert avro_sig(f["type"]) == model_sig(info), f"{f['name']}: type/optionality differ"
        if "default" in f:
            assert not info.is_required() and info.default == f["default"], f"{f['name']}: default differs"
        else:
            assert info.is_required(), f"{f['name']}: model has a default the schema lacks"
    assert c.key_field in model_fields


def test_every_contract_has_a_model_and_topic_names_follow_convention():
    assert set(contracts()) == set(MODELS)
    for topic in contracts():
        assert len(topic.split(".")) == 3, topic


def _valid_profile() -> dict[str, Any]:
    return {
        "event_id": "4f0c3c1e-6a53-4d7e-9d44-2b1f3c1a9e10", "event_time": 1_700_000_000_000, "source": "scraper",
        "profile_id": "42", "platform": "instagram", "handle": "ana", "followers": 1200,
    }  # fmt: skip


def test_wire_form_is_avro_compatible_json_in_schema_order():
    c = contracts()["social.profile.snapshot"]
    ev = c.model.model_validate(_valid_profile())
    line = c.encode(ev)
    obj = json.loads(line)
    assert list(obj) == c.field_names
    assert obj["ingested_at"] is None and obj["schema_version"] == 1
    assert b"\n" not in line and b", " not in line  # one compact JSON line
    # the JSON line is a valid record of the Avro schema
    fastavro.validation.validate(obj, fastavro.parse_schema(c.schema), raise_errors=True)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"followers": "1200"}, "followers"),  # strict: no string-to-int coercion
        ({"platform": "tiktok"}, "platform"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_time": -5}, "event_time"),
        ({"surprise": 1}, "surprise"),
        ({"followers": 2**63}, "followers"),
    ],
)
def test_models_reject_bad_values_naming_the_field(change, fragment):
    c = contracts()["social.profile.snapshot"]
    with pytest.raises(ValidationError) as exc:
        c.model.model_validate({**_valid_profile(), **change})
    assert fragment in str(exc.value)


# ---- evolution --------------------------------------------------------------------------------------
BASE = {"type": "record", "name": "R", "namespace": "n", "stir.key": "id",
        "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": ["null", "long"], "default": None},
                   {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["a", "b"]}}]}  # fmt: skip


def _with(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {**BASE, "fields": fields}


def test_evolution_rule_accepts_compatible_changes():
    assert check_evolution(BASE, BASE) == []
    added = _with([*BASE["fields"], {"name": "x", "type": ["null", "string"], "default": None}])
    assert check_evolution(BASE, added) == []
    grown = _with(
        [*BASE["fields"][:2], {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["a", "b", "c"]}}]
    )
    assert check_evolution(BASE, grown) == []


@pytest.mark.parametrize(
    ("new_fields", "problem"),
    [
        (BASE["fields"][:2], "field removed: e"),
        ([{"name": "id", "type": "long"}, *BASE["fields"][1:]], "field id: type changed"),
        ([*BASE["fields"], {"name": "x", "type": "string"}], "new field x must be optional"),
        ([*BASE["fields"], {"name": "x", "type": ["null", "string"]}], "new field x must be optional"),
        ([BASE["fields"][0], {"name": "n", "type": ["null", "long"], "default": 5}, BASE["fields"][2]], "default"),
        (
            [*BASE["fields"][:2], {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["b", "a"]}}],
            "type changed",
        ),
    ],
)
def test_evolution_rule_refuses_breaking_changes(new_fields, problem):
    problems = check_evolution(BASE, _with(new_fields))
    assert any(problem in p for p in problems), problems


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def test_committed_history_of_every_schema_evolves_compatibly():
    """Each schema against every previous committed version of it (and the working tree against HEAD)."""
    try:
        _git("rev-parse", "HEAD")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip("not a git checkout with history")
    committed = compared = 0
    for path in sorted(AVRO_DIR.glob("*.avsc")):
        rel = path.relative_to(REPO).as_posix()
        commits = _git("log", "--format=%H", "--", rel).split()
        committed += bool(commits)
        versions = [json.loads(_git("show", f"{c}:{rel}")) for c in reversed(commits)]
        versions.append(json.loads(path.read_text()))
        for old, new in itertools.pairwise(versions):
            assert check_evolution(old, new) == [], f"{rel}: incompatible change"
        compared += len(versions) > 1
    assert compared == committed  # no committed schema escaped the comparison
