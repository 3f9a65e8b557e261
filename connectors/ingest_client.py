"""A small producer client for the ingest API: batching, retries with backoff, per-item results.

    with IngestClient("http://127.0.0.1:18080", token) as client:
        client.send("social.profile.snapshot", {"profile_id": "42", ...})
        ...
    # leaving the block flushes; client.accepted / client.rejected hold the outcome

Events get an ``event_id`` (UUID4) when they have none, so a retried batch carries the same ids and the
pipeline's dedup makes the retry harmless. ``event_time`` defaults to now.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUS = {429, 502, 503, 504}


class IngestError(RuntimeError):
    pass


@dataclass
class ClientStats:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    retries: int = 0


class IngestClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        source: str = "sdk",
        batch_size: int = 500,
        max_retries: int = 8,
        backoff_s: float = 0.1,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/events"
        self.source = source
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.http = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})
        self.buffer: list[dict[str, Any]] = []
        self.stats = ClientStats()

    def __enter__(self) -> IngestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.http.close()

    def send(self, event_type: str, event: dict[str, Any]) -> str:
        """Queue one event; sends a batch when the buffer is full. Returns the event_id."""
        item = {"type": event_type, **event}
        item.setdefault("event_id", str(uuid.uuid4()))
        item.setdefault("event_time", time.time_ns() // 1_000_000)
        item.setdefault("source", self.source)
        self.buffer.append(item)
        if len(self.buffer) >= self.batch_size:
            self.flush()
        return str(item["event_id"])

    def flush(self) -> None:
        while self.buffer:
            batch, self.buffer = self.buffer[: self.batch_size], self.buffer[self.batch_size :]
            self._post(batch)

    def _post(self, batch: list[dict[str, Any]]) -> None:
        body = "\n".join(json.dumps(e, separators=(",", ":")) for e in batch).encode()
        headers = {"Content-Type": "application/x-ndjson"}
        for attempt in range(self.max_retries + 1):
            self.stats.requests += 1
            try:
                r = self.http.post(self.url, content=body, headers=headers)
            except httpx.TransportError as e:
                if attempt == self.max_retries:
                    raise IngestError(f"ingest API unreachable: {e}") from e
                self._sleep(attempt, None)
                continue
            if r.status_code in RETRY_STATUS and attempt < self.max_retries:
                self.stats.retries += 1
                self._sleep(attempt, r.headers.get("Retry-After"))
                continue
            if r.status_code in (401, 403, 413):
                raise IngestError(f"ingest API refused the batch: HTTP {r.status_code}: {r.text[:500]}")
            if r.status_code not in (200, 422):
                raise IngestError(f"ingest API failed: HTTP {r.status_code}: {r.text[:500]}")
            result = r.json()
            self.stats.accepted += int(result.get("accepted", 0))
            self.stats.rejected += [x for x in result.get("results", []) if x.get("status") == "rejected"]
            return

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_s * (2**attempt)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        time.sleep(min(delay, 10.0))
