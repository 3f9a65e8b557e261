"""The ingest API's token file under concurrent edits: `stir ingest token` run by several processes at once keeps
every token (each edit takes a lock; without it, read-modify-write lost tokens)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from connectors.ingest.tokens import TokenStore


def _make(path: str, who: int, n: int, out: Any) -> None:
    store = TokenStore(Path(path))
    out.put((who, [store.create(f"p{who}-{i}", ["*"]) for i in range(n)]))


def test_concurrent_creates_keep_every_token(tmp_path):
    path = tmp_path / "secrets" / "tokens.json"
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_make, args=(str(path), w, 15, out)) for w in range(6)]
    for p in procs:
        p.start()
    made = dict(out.get(timeout=60) for _ in procs)
    tokens = [t for who in sorted(made) for t in made[who]]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    store = TokenStore(path)
    assert len(tokens) == 90 and all(store.authenticate(f"Bearer {t}") is not None for t in tokens)
    assert store.revoke("p3-7") == 1 and store.authenticate(f"Bearer {made[3][7]}") is None
