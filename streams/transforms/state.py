"""What the state records share.

A table value is a record (a ``@dataclass(slots=True)``) with ``copy``, ``to_json`` and ``from_json``. Its JSON
form is the compact one the changelog has always held (the short keys and positional arrays below), so a state
written before the records existed loads, and ``from_json(to_json())`` gives the same state back.

Inside a record, small positional values (a follower point, a post's counters, a scrape fact...) are
``Entry`` subclasses: a ``list`` with read-only named fields. Being lists, they compare and sort like the arrays
they were, and the JSON encoders write them natively (no per-entry conversion when a state is written, which
matters on the profile agent's hot path). They are never changed in place: an apply function replaces them.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Protocol, Self


class Entry(list[Any]):
    """A positional JSON array with named, read-only fields (declared with ``at``)."""

    __slots__ = ()


def at(index: int) -> Any:
    """The field of an ``Entry`` at ``index`` (a read-only property)."""
    return property(itemgetter(index))


def added_at(index: int) -> Any:
    """A field added to an ``Entry`` later: None in the shorter entries of states written before it."""
    return property(lambda entry: entry[index] if len(entry) > index else None)


class StateRecord(Protocol):
    """What an agent's table holds."""

    def copy(self) -> Self: ...

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self: ...
