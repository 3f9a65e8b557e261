"""One example event per type the ingest API takes: what `docs/ingest-api.md` and the OpenAPI document show, and
what the tests post (each must be accepted as it is)."""

from __future__ import annotations

from typing import Any

T = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ENVELOPE = {"event_time": T, "source": "scraper-eu", "schema_version": 1}

EXAMPLES: dict[str, dict[str, Any]] = {
    "social.profile.snapshot": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a61", "profile_id": "ig-1001", "platform": "instagram",
        "handle": "ada.cooks", "followers": 18250, "following": 310, "posts_count": 412, "category": "food",
        "language": "en", "country": "GB", "full_name": "Ada Lovelace", "is_verified": True, "is_business": False,
        "profile_type": "creator",
    },
    "social.post.snapshot": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a62", "post_id": "ig-p-77", "profile_id": "ig-1001",
        "platform": "instagram", "post_type": "reel", "published_at": T - 3_600_000, "likes": 940, "comments": 31,
        "views": None, "plays": 12800, "reach": 9100, "impressions": 15400, "saves": 57,
    },
    "social.profile.audience": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a68", "profile_id": "ig-1001", "platform": "instagram",
        "gender": {"female": 61.5, "male": 37.0, "other": 1.5}, "age": {"18-24": 34.0, "25-34": 41.0, "35-44": 25.0},
        "countries": {"GB": 52.0, "US": 21.0}, "cities": {"London": 30.5}, "languages": {"en": 88.0},
        "authenticity": 91.2, "reachability": 38.4,
    },
    "social.profile.insight": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a69", "profile_id": "ig-1001", "platform": "instagram",
        "day": T - 86_400_000, "content_type": "reel", "reach": 22100, "impressions": 30950,
    },
    "social.scrape.status": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a63", "request_id": "req-42", "post_id": "ig-p-77",
        "flow": "post_refresh", "status": "COMPLETE", "attempt": 1, "error": None,
    },
    "activity.auth.attempt": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a64", "tenant_id": "acme", "user_id": "u-17",
        "success": False, "ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "failure_reason": "bad_password",
    },
    "activity.session.event": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a65", "session_id": "s-9001", "tenant_id": "acme",
        "user_id": "u-17", "kind": "start",
    },
    "activity.feature.use": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a66", "tenant_id": "acme", "user_id": "u-17",
        "feature": "leaderboards", "action": "open",
    },
    "activity.api.call": {
        "event_id": "0b6f5a3e-8c1d-4e2f-9a7b-1c2d3e4f5a67", "tenant_id": "acme", "user_id": "u-17",
        "endpoint": "/v1/profiles", "method": "GET", "status_code": 200, "latency_ms": 42.5,
    },
}  # fmt: skip


def example(event_type: str) -> dict[str, Any]:
    """The example item of ``event_type`` as a producer posts it (with its ``type``)."""
    return {"type": event_type, **ENVELOPE, **EXAMPLES[event_type]}


def markdown() -> str:
    """The examples as `docs/ingest-api.md` shows them: one `curl` per event type (a test keeps them equal)."""
    import json

    parts = []
    for event_type in EXAMPLES:
        body = json.dumps(example(event_type), indent=2)
        parts.append(f"### `{event_type}`\n\n```bash\ncurl -sS -X POST http://127.0.0.1:18080/v1/events \\\n"
                     f"  -H \"Authorization: Bearer $STIR_TOKEN\" -H 'Content-Type: application/json' -d '\n"
                     f"{body}'\n```\n")  # fmt: skip
    return "\n".join(parts)
