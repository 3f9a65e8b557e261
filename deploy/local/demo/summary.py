"""What ``stir demo`` prints at the end: events per stage, freshness percentiles, the top-10 leaderboard, the
hiring and user-activity serving tables, and how long each phase took."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from deploy.local.demo.counts import DomainRows


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    to_clickhouse_ms: list[float] = field(default_factory=list)
    to_serving_ms: list[float] = field(default_factory=list)
    top10: list[tuple[Any, ...]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    domains: DomainRows = field(default_factory=DomainRows)
    schema: str = "serving"  # the serving schema the rows were read from


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def print_summary(s: Summary, console: Console) -> None:
    t = Table(title="Stir Stream demo: events per stage (totals in this stack)")
    t.add_column("stage")
    t.add_column("count", justify="right")
    for k, v in s.counts.items():
        t.add_row(k, f"{v:,}")
    console.print(t)
    f = Table(title=f"Freshness ({len(s.to_clickhouse_ms)} probe commits)")
    for c in ("path", "p50 ms", "p95 ms", "max ms"):
        f.add_column(c, justify="right" if c != "path" else "left")
    for name, vals in (("PostgreSQL commit → ClickHouse row", s.to_clickhouse_ms),
                       ("PostgreSQL commit → serving table", s.to_serving_ms)):  # fmt: skip
        f.add_row(name, f"{pct(vals, 50):.0f}", f"{pct(vals, 95):.0f}", f"{max(vals, default=float('nan')):.0f}")
    console.print(f)
    lb = Table(title=f"Top 10 by followers, current month, global ({s.schema}.leaderboard_current)")
    for c in ("rank", "platform", "handle", "category", "followers", "prev rank"):
        lb.add_column(c)
    for rank, platform, handle, category, value, prev in s.top10:
        lb.add_row(str(rank), platform, handle or "", category or "", f"{value:,.0f}", str(prev or "-"))
    console.print(lb)
    console.print("durations: " + ", ".join(f"{k} {v:.1f}s" for k, v in s.seconds.items()))


def print_domains(d: DomainRows, schema: str, console: Console) -> None:
    t = Table(title=f"Hiring: processes by status ({schema}.hiring_processes)")
    t.add_column("status")
    t.add_column("processes", justify="right")
    for status, n in d.hiring:
        t.add_row(status, str(n))
    console.print(t)
    t = Table(title=f"Hiring: companies ({schema}.interview_analytics)")
    for c in ("company", "processes", "offers", "ghosted", "response %", "days in applied"):
        t.add_column(c)
    for row in d.companies:
        t.add_row(*(str(x) for x in row))
    console.print(t)
    t = Table(title=f"User activity: latest day per tenant ({schema}.tenant_activity)")
    for c in ("tenant", "day", "DAU", "WAU", "MAU", "sessions", "avg session s"):
        t.add_column(c)
    for row in d.tenants:
        t.add_row(*(str(x) for x in row))
    console.print(t)
    console.print("accounts by login-security status: " + ", ".join(f"{s} {n}" for s, n in d.security))
