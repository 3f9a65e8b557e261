"""``collections`` agent (key: collection id): the collection_items CDC and the post metrics the membership agent
fans out to the collections holding the post → each collection's rolling metrics, and the membership changes
for the membership agent (see ``streams/transforms/collection.py`` for the two-hop join)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from schemas.models import CollectionMetrics
from schemas.topics import topic
from streams.agents.common import BatchResult, GetState, declared, latency_s
from streams.settings import StreamsSettings
from streams.transforms import collection as tcol
from streams.transforms.cdc import decode_cdc, row_image
from streams.transforms.collection import CollectionState
from streams.transforms.records import contract_line, decode_lines, dumps, row_with

AGENT = "collections"
ITEMS_CDC = topic("cdc.public.collection_items").name
COLLECTIONS_CDC = topic("cdc.public.collections").name
POST_BY_COLLECTION = topic("internal.post.by_collection").name
COLLECTION_METRICS = topic("metrics.collection.rolling").name
MEMBERSHIP_BY_POST = topic("internal.membership.by_post").name
declared(AGENT, reads=(ITEMS_CDC, COLLECTIONS_CDC, POST_BY_COLLECTION), writes=(COLLECTION_METRICS, MEMBERSHIP_BY_POST))

_post_row = row_with("collection_id", "post_id", "pv", "likes", "comments", "t")


def handle(name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int) -> BatchResult:
    res = BatchResult()
    cdc_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    posts_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    collections_by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if name == POST_BY_COLLECTION:
        rows, res.bad = decode_lines(value, _post_row)
        for r in rows:
            posts_by[str(r["collection_id"])].append(r)
    elif name == COLLECTIONS_CDC:
        rows, res.bad = decode_cdc(value)
        for r in rows:
            collections_by[str(row_image(r)["id"])].append(r)
    else:  # collection_items CDC
        rows, res.bad = decode_cdc(value)
        for r in rows:
            image = r.get("after") or r.get("before") or {}
            cdc_by[str(image["collection_id"])].append(r)
    res.rows_in = len(rows) + len(res.bad)
    for key in {**cdc_by, **posts_by, **collections_by}:
        stored: CollectionState | None = get_state(key)
        state = stored.copy() if stored is not None else CollectionState()
        outcome = tcol.Outcome()
        tcol.apply_items_cdc(state, cdc_by.get(key, []), outcome)
        tcol.apply_post_metrics(state, posts_by.get(key, []), outcome)
        tcol.apply_collections_cdc(state, collections_by.get(key, []), outcome)
        res.duplicates += outcome.duplicates
        if not outcome.changed:
            continue
        res.states[key] = state
        row = tcol.collection_row(key, state)
        t = state.latest_event_time
        res.out[COLLECTION_METRICS].append((key, contract_line(CollectionMetrics, COLLECTION_METRICS, row, key, t,
                                                               AGENT)))  # fmt: skip
        res.latencies_s.append(latency_s(now_ms, t))
        for post_id, present, lsn, added_at in outcome.membership:
            line = dumps({"post_id": post_id, "collection_id": key, "present": present, "lsn": lsn,
                          "added_at": added_at})  # fmt: skip
            res.out[MEMBERSHIP_BY_POST].append((post_id, line))
    return res
