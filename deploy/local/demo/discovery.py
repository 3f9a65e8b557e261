"""What ``stir demo`` shows of the Stir app's pages, read as the app from the serving tables: the discovery
profile of the most followed Instagram creator (metrics, grades, group averages, ranks) and a page of the
cross-platform leaderboard of the newest month with data."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

SHOWN = ("followers", "engagement_rate", "avg_likes", "avg_comments", "comments_rate", "reels_reach", "image_reach",
         "story_reach", "followers_growth30d", "followers_growth1y", "avg_posts_per_week", "audience_authencity",
         "audience_reachability")  # fmt: skip
PROFILE = "SELECT * FROM {table} ORDER BY followers DESC, profile_id LIMIT 1"
BOARD = (
    "SELECT profile_platform, handle, followers, followers_change, engagement_rate, current_month_ranks, "
    "last_month_ranks FROM {table} WHERE platform = 'all' AND month = (SELECT max(month) FROM {table} "
    "WHERE month <= date_trunc('month', now())::date AND platform = 'all') AND current_month_ranks ? "
    "'followers_global' ORDER BY (current_month_ranks ->> 'followers_global')::int LIMIT 10"
)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def print_discovery(dsn: str, schema: str, console: Console) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        profile = cur.execute(sql.SQL(PROFILE).format(table=sql.Identifier(schema, "instagram_account"))).fetchone()
        board = cur.execute(sql.SQL(BOARD).format(table=sql.Identifier(schema, "leaderboard"))).fetchall()
    if profile is not None:
        flags = ", ".join(f for f, on in (("verified", profile["is_verified"]), ("business", profile["is_business"]))
                          if on)  # fmt: skip
        t = Table(title=f"Discovery profile ({schema}.instagram_account): @{profile['handle']} "
                        f"{profile['full_name'] or ''} ({flags or 'not verified'}) {profile['category'] or ''} "
                        f"{profile['country'] or ''}, {profile['follower_group']}; country rank "
                        f"{profile['country_rank'] or '-'}, category rank "
                        f"{profile['category_rank'] or '-'}")  # fmt: skip
        for c in ("metric", "value", "grade", "group average"):
            t.add_column(c, justify="left" if c in ("metric", "grade") else "right")
        for m in SHOWN:
            t.add_row(m, _num(profile[m]), profile[f"{m}_grade"] or "-", _num(profile[f"group_avg_{m}"]))
        console.print(t)
    t = Table(title=f"Leaderboard, all platforms, by followers ({schema}.leaderboard)")
    for c in ("#", "prev", "platform", "handle", "followers", "change", "ER %"):
        t.add_column(c, no_wrap=True)
    for r in board:
        now, before = r["current_month_ranks"], r["last_month_ranks"] or {}
        t.add_row(str(now["followers_global"]), str(before.get("followers_global", "-")), r["profile_platform"],
                  r["handle"] or "", _num(r["followers"]), _num(r["followers_change"]),
                  _num(r["engagement_rate"]))  # fmt: skip
    console.print(t)
