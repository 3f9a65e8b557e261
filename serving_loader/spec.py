"""The snapshot spec's types: what the app reads, where it comes from, and how often it is refreshed (the specs
themselves are in ``specs.py`` and ``discovery_specs.py``).

Each spec names a query over the warehouse marts, the serving table it becomes, its columns with PostgreSQL
types (the query must return exactly these, in order), its indexes (the first is the unique key), its
refresh interval and the minimum ratio of new to live rows below which a refresh is refused.

A spec with ``incremental`` is refreshed by applying only what changed (``incremental.py``): ``changed`` lists the
keys whose row may have changed in a window of ClickHouse insert times (``{since}``, ``{upto}``: the rows of the
sources inserted then, and the rows that depend on them); ``bands`` adds the rows whose grade moved because their
group's thresholds moved. The others are snapshot + swap only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Bands:
    """Grades relative to a group's thresholds: a row's grade changes when the thresholds move across its value,
    although the row itself did not change. ``query`` returns the rows with their thresholds (the spec's columns,
    then one array column per graded metric: the thresholds each row was graded with); ``thresholds`` returns
    ``group`` and the same array columns per group now; ``values`` is where the metrics' current values are (per
    key); ``metrics`` maps each threshold column to its metric column. Grades compare with ``>``."""

    query: str
    thresholds: str
    values: str
    group: str
    metrics: tuple[tuple[str, str], ...]  # (threshold column, metric column)

    @property
    def threshold_columns(self) -> list[str]:
        return [t for t, _ in self.metrics]


@dataclass(frozen=True)
class Incremental:
    changed: str  # ClickHouse SQL returning the key columns of the rows changed in ({since}, {upto}]
    bands: Bands | None = None


@dataclass(frozen=True)
class Reconcile:
    """How the table is checked against its OLTP source (``reconcile.py``): ``source`` is PostgreSQL SQL returning
    the source's keys as text; ``others`` says the table may also hold keys the OLTP database does not (entities
    that came through the ingest API only)."""

    source: str
    others: bool = False


@dataclass(frozen=True)
class Spec:
    name: str  # serving table name
    query: str  # ClickHouse SQL
    columns: tuple[tuple[str, str], ...]  # (name, PostgreSQL type)
    indexes: tuple[tuple[str, ...], ...]  # first one unique
    interval_s: float
    min_row_ratio: float = 0.5
    views: tuple[tuple[str, str], ...] = field(default=())  # dependent views: (name, SELECT over the table)
    incremental: Incremental | None = None  # None: snapshot + swap only
    reconcile: Reconcile | None = None  # None: not checked against the OLTP source
    snapshot_interval_s: float | None = None  # an incremental spec's interval when it is swapped whole instead

    @property
    def key(self) -> tuple[str, ...]:
        return self.indexes[0]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def pg_types(self) -> list[str]:
        return [t for _, t in self.columns]


def inserted(table: str, key: str) -> str:
    """The keys of ``table``'s rows inserted in the window."""
    return f"SELECT {key} FROM {table} WHERE inserted_at > {{since}} AND inserted_at <= {{upto}}"


def cols(text: str) -> tuple[tuple[str, str], ...]:
    """``"a text, b bigint"`` -> (("a", "text"), ("b", "bigint"))."""
    parts = [c.strip().split(None, 1) for c in text.split(",") if c.strip()]
    return tuple((p[0], p[1]) for p in parts)
