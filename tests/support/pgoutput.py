"""A minimal decoder of pgoutput protocol v1 messages (Begin, Relation, Insert, Update, Delete, Commit).

Used by tests to read what a logical replication slot returns, independently of Debezium.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class Reader:
    buf: bytes
    pos: int = 0

    def take(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def i16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def i32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def cstr(self) -> str:
        end = self.buf.index(b"\0", self.pos)
        s = self.buf[self.pos : end].decode()
        self.pos = end + 1
        return s


@dataclass
class Relation:
    relid: int
    namespace: str
    name: str
    columns: list[str] = field(default_factory=list)


@dataclass
class Change:
    kind: str  # "insert" | "update" | "delete"
    relation: str
    new: dict[str, str | None] | None
    old: dict[str, str | None] | None


def _tuple(r: Reader, rel: Relation) -> dict[str, str | None]:
    n = r.i16()
    out: dict[str, str | None] = {}
    for i in range(n):
        kind = chr(r.u8())
        if kind == "t":
            out[rel.columns[i]] = r.take(r.i32()).decode()
        elif kind == "n":
            out[rel.columns[i]] = None
        else:  # "u": unchanged TOAST value
            out[rel.columns[i]] = "<unchanged>"
    return out


def decode(messages: list[bytes]) -> tuple[list[str], list[Change]]:
    """Returns the message type letters in order and the decoded row changes."""
    relations: dict[int, Relation] = {}
    kinds: list[str] = []
    changes: list[Change] = []
    for raw in messages:
        r = Reader(raw)
        t = chr(r.u8())
        kinds.append(t)
        if t == "R":
            rel = Relation(r.i32(), r.cstr(), r.cstr())
            r.u8()  # replica identity
            for _ in range(r.i16()):
                r.u8()  # flags
                rel.columns.append(r.cstr())
                r.i32()  # type oid
                r.i32()  # type modifier
            relations[rel.relid] = rel
        elif t == "I":
            rel = relations[r.i32()]
            assert chr(r.u8()) == "N"
            changes.append(Change("insert", f"{rel.namespace}.{rel.name}", _tuple(r, rel), None))
        elif t == "U":
            rel = relations[r.i32()]
            old = None
            tag = chr(r.u8())
            if tag in ("K", "O"):
                old = _tuple(r, rel)
                tag = chr(r.u8())
            assert tag == "N"
            changes.append(Change("update", f"{rel.namespace}.{rel.name}", _tuple(r, rel), old))
        elif t == "D":
            rel = relations[r.i32()]
            assert chr(r.u8()) in ("K", "O")
            changes.append(Change("delete", f"{rel.namespace}.{rel.name}", None, _tuple(r, rel)))
    return kinds, changes
