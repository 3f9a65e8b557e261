"""The bounds every contracted value keeps, so that ingest, CDC decoding, replay and the agents agree on what
is valid and nothing accepted can break a later stage.

- **Counts** are non-negative and at most ``MAX_COUNT`` (10^12): a sum of a million of them, a difference of
  two, or a product with a percentage still fits ClickHouse's ``Int64`` and stays exact in a ``Float64``.
- **Floats** are finite (no NaN/Infinity: a non-Nullable ``Float64`` would store them as 0 or break a quantile).
- **Times** lie between ``MIN_EPOCH_MS`` (2000-01-01) and ``MAX_EPOCH_MS`` (2100-01-01): inside every
  ``DateTime``/``DateTime64`` and TTL arithmetic downstream. An event's ``event_time`` is also at most
  ``max_future_skew_ms`` past the moment it was ingested (``ingested_at``), so that no single event can move
  "now" for an entity or a leaderboard; ``validate_event_time`` checks it against the clock of the component
  that admits the event.
- **Strings** hold no control characters (NUL breaks PostgreSQL's COPY) and no lone surrogates (not encodable
  as UTF-8), and are short enough for every index that holds them: ``MAX_ID`` characters for ids,
  ``MAX_LABEL`` for labels (handle, category, language, ...), ``MAX_TEXT`` for free text (error messages, user
  agents), all below PostgreSQL's btree row limit of 2704 bytes even at 4 bytes per character.

Each alias carries its Avro wire type (``Wire``), which the contract test compares with the ``.avsc`` file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

MAX_COUNT = 10**12
MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
DEFAULT_FUTURE_SKEW_MS = 15 * 60_000
MAX_ID, MAX_LABEL, MAX_TEXT = 200, 255, 2000
MAX_LATENCY_MS = 86_400_000.0  # a day

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # controls (tab, LF, CR allowed in text)
_FORBIDDEN_IN_NAMES = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Wire:
    """The Avro type an annotated alias stands for (``long``, ``long/timestamp-millis``, ``string/uuid``, ...)."""

    avro: str


def _clean_text(s: str) -> str:
    bad = _FORBIDDEN.search(s)
    if bad is not None:
        raise ValueError(f"holds the forbidden character U+{ord(bad.group()):04X} at position {bad.start()}")
    return s


def _clean_name(s: str) -> str:
    bad = _FORBIDDEN_IN_NAMES.search(s)
    if bad is not None:
        raise ValueError(f"holds the forbidden character U+{ord(bad.group()):04X} at position {bad.start()}")
    return s


UuidStr = Annotated[
    str,
    Wire("string/uuid"),
    StringConstraints(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
EpochMillis = Annotated[int, Wire("long/timestamp-millis"), Field(ge=MIN_EPOCH_MS, le=MAX_EPOCH_MS)]
Int32 = Annotated[int, Wire("int"), Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Wire("long"), Field(ge=-(2**63), le=2**63 - 1)]
Count = Annotated[int, Wire("long"), Field(ge=0, le=MAX_COUNT)]  # an observed count (followers, likes, ...)
Small = Annotated[int, Wire("int"), Field(ge=0, le=2**31 - 1)]  # a non-negative counter (attempts, interviews)
Finite = Annotated[float, Wire("double"), Field(allow_inf_nan=False)]
# the forbidden characters in JSON Schema, for the OpenAPI document of the ingest API: "not" a match anywhere (a
# "^...$" pattern lets Python's "$" pass a trailing newline); lone surrogates, which JSON text carries only as \u
# escapes, are left to the validators above: pattern engines differ on them
_NAME_SCHEMA = Field(json_schema_extra={"not": {"pattern": r"[\x00-\x1f\x7f]"}})
_TEXT_SCHEMA = Field(json_schema_extra={"not": {"pattern": r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"}})
Id = Annotated[str, Wire("string"), StringConstraints(min_length=1, max_length=MAX_ID), AfterValidator(_clean_name),
               _NAME_SCHEMA]  # fmt: skip
Label = Annotated[str, Wire("string"), StringConstraints(max_length=MAX_LABEL), AfterValidator(_clean_name),
                  _NAME_SCHEMA]  # fmt: skip
Text = Annotated[str, Wire("string"), StringConstraints(max_length=MAX_TEXT), AfterValidator(_clean_text),
                 _TEXT_SCHEMA]  # fmt: skip
StatusCode = Annotated[int, Wire("int"), Field(ge=100, le=599)]
Percent = Annotated[float, Wire("double"), Field(ge=0, le=100, allow_inf_nan=False)]
MAX_SHARES = 250  # labels in one share map (the platforms report the top 10-50 countries/cities)
Shares = Annotated[dict[Label, Percent], Wire("map<double>"), Field(max_length=MAX_SHARES)]
DAY_MS = 86_400_000
DayMillis = Annotated[int, Wire("long/timestamp-millis"), Field(ge=MIN_EPOCH_MS, le=MAX_EPOCH_MS, multiple_of=DAY_MS)]
LatencyMs = Annotated[float, Wire("double"), Field(ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False)]


def validate_event_time(event_time: int, now_ms: int, max_future_skew_ms: int = DEFAULT_FUTURE_SKEW_MS) -> str | None:
    """Why ``event_time`` cannot be admitted at ``now_ms`` (None: it can)."""
    if event_time > now_ms + max_future_skew_ms:
        return (f"event_time: {event_time} is {(event_time - now_ms) / 1000:.0f} s in the future; at most "
                f"{max_future_skew_ms / 1000:.0f} s of clock skew is accepted")  # fmt: skip
    return None
