"""`stir report`'s warehouse figures: the current month's top movers of the global followers leaderboard, named by
their newest handle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MOVERS = """
SELECT l.profile_id, l.platform, ifNull(h.handle, '') AS handle, l.prev_rank - l.rank AS climbed, l.rank
FROM leaderboard_monthly AS l
LEFT JOIN (SELECT profile_id, platform, argMaxMerge(handle) AS handle FROM profile_handle
           GROUP BY profile_id, platform) AS h ON h.profile_id = l.profile_id AND h.platform = l.platform
WHERE l.month = (SELECT max(month) FROM leaderboard_monthly) AND l.scope = 'global' AND l.metric = 'followers'
  AND l.prev_rank IS NOT NULL
ORDER BY climbed DESC, l.rank, l.platform
LIMIT 10
"""


def mover_label(profile_id: str, platform: str, handle: str, rank: int) -> str:
    """A mover as people know it: its handle (its id until a snapshot named it), platform and rank."""
    return f"{'@' + handle if handle else profile_id} ({platform}, now #{rank})"


def warehouse_figures(query: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The warehouse's figures of the report; ``query`` runs one SELECT and returns its rows."""
    return {"movers": [tuple(r) for r in query(MOVERS)]}
