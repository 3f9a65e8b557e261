"""The README's configuration table is generated from the settings classes, and this test keeps it so.

A setting added, renamed or re-described without regenerating the README fails here. Regenerate with::

    .venv/bin/python -m tests.unit.test_readme_config

which rewrites the section between the ``config-table`` marker comments of README.md.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

README = Path(__file__).resolve().parents[2] / "README.md"
START = "<!-- config-table:start -->"
END = "<!-- config-table:end -->"
REGENERATE = "python -m tests.unit.test_readme_config"

# (title, "module:Class", what it configures); Core first: its fields are shared by every component
COMPONENTS: list[tuple[str, str, str]] = [
    ("Core", "schemas.settings:CoreSettings", "shared by every component"),
    ("Local stack", "deploy.local.settings:StackSettings", "`stir setup`, `stir up`"),
    ("CDC connector", "connectors.debezium:ConnectorSettings", "`stir connectors`"),
    ("Ingest API", "connectors.ingest.settings:IngestSettings", "`stir ingest serve`"),
    ("Stream processors", "streams.settings:StreamsSettings", "`stir streams worker`"),
    ("Warehouse", "clickhouse_ddl.settings:WarehouseSettings", "`stir ch`, `stir warehouse run`"),
    ("Serving loader", "serving_loader.settings:LoaderSettings", "`stir load`"),
    ("Scrape dispatcher", "connectors.dispatch.settings:DispatchSettings", "`stir dispatch run`"),
]


def _load(ref: str) -> type[BaseSettings]:
    module, name = ref.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type) and issubclass(cls, BaseSettings), ref
    return cls


def env_var(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    """The environment variable of a field: its string ``validation_alias``, else env prefix + NAME."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str)]
        if names:
            return " / ".join(names)
    return str(cls.model_config.get("env_prefix", "")) + name.upper()


def _value(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, SecretStr):
        v = v.get_secret_value()
        if v:
            return "(secret)"
    if isinstance(v, Path):
        home = Path.home()
        v = f"~/{v.relative_to(home)}" if v.is_absolute() and v.is_relative_to(home) else str(v)
    if isinstance(v, bool):
        v = str(v).lower()
    if v == "":
        return "empty"
    if isinstance(v, list | tuple | set | dict) and not v:
        return "empty"
    return f"`{v}`"


def default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown_default"), str):
        return str(extra["shown_default"])  # a default that depends on the machine, as the README says it
    if field.default_factory is not None:
        return _value(field.default_factory())  # type: ignore[call-arg]
    if field.default is PydanticUndefined:
        return "required"
    return _value(field.default)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def own_fields(cls: type[BaseSettings]) -> list[tuple[str, FieldInfo]]:
    """The fields a class declares itself (a subclass's inherited CoreSettings fields are Core's rows)."""
    own = inspect.get_annotations(cls)
    core = _load(COMPONENTS[0][1])
    return [(n, f) for n, f in cls.model_fields.items() if cls is core or n in own or n not in core.model_fields]


def config_table() -> str:
    """The README's configuration section (between the markers), generated from the settings classes."""
    out = [f"<!-- generated from the settings classes: `{REGENERATE}` -->", "",
           "| variable | default | description |", "|---|---|---|"]  # fmt: skip
    for title, ref, what in COMPONENTS:
        cls = _load(ref)
        module, name = ref.split(":")
        out.append(f"| **{title}** | | {what} (`{module}.{name}`) |")
        for fname, field in own_fields(cls):
            desc = _cell(field.description) if field.description else "—"
            out.append(f"| `{env_var(cls, fname, field)}` | {_cell(default(field))} | {desc} |")
    return "\n".join(out)


def readme_section(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip()


def rewrite_readme(path: Path = README) -> bool:
    """Replace the README's section with the generated table; True if the file changed."""
    text = path.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    new = text[:start] + "\n" + config_table() + "\n" + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


def test_readme_config_table_matches_the_settings_classes(monkeypatch: Any) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)  # defaults as on a machine without overrides
    text = README.read_text()
    assert START in text and END in text, f"README.md needs the {START} / {END} markers"
    assert readme_section(text) == config_table().strip(), (
        f"README.md's configuration table is out of date with the settings classes: run `{REGENERATE}`"
    )


def test_every_env_var_is_listed_once() -> None:
    names = [env_var(_load(ref), n, f) for _, ref, _ in COMPONENTS for n, f in own_fields(_load(ref))]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


if __name__ == "__main__":
    os.environ.pop("XDG_CACHE_HOME", None)
    changed = rewrite_readme()
    print(f"{README}: configuration table {'rewritten' if changed else 'already up to date'}")
    sys.exit(0)
