"""Pydantic v2 models that mirror the Avro contracts in ``schemas/avro/`` (the source of truth).

``tests/unit/test_contracts.py`` checks every model against its schema in both directions: field names and
order, types, optionality and defaults. Models validate in strict mode (no silent coercion of "12" to 12)
and forbid unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

UuidStr = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
]
EpochMillis = Annotated[int, Field(ge=0, le=253402300799999)]  # up to 9999-12-31
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]

Platform = Literal["instagram", "youtube"]
PostType = Literal["image", "carousel", "reel", "video", "short"]
ScrapeStatus = Literal["PENDING", "RUNNING", "COMPLETE", "FAILED"]
SessionKind = Literal["start", "heartbeat", "end"]
ProcessStatus = Literal[
    "applied", "screening", "interviewing", "final_round", "offer", "rejected", "withdrawn", "ghosted"
]
SecurityStatus = Literal["active", "suspicious"]


class Event(BaseModel):
    """The envelope every produced event carries."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    event_id: UuidStr
    event_time: EpochMillis
    ingested_at: EpochMillis | None = None
    source: NonEmpty
    schema_version: Int32 = 1


# --- social ---------------------------------------------------------------------------------------


class ProfileSnapshot(Event):
    profile_id: NonEmpty
    platform: Platform
    handle: str
    followers: Int64
    following: Int64 | None = None
    posts_count: Int64 | None = None
    category: str | None = None
    language: str | None = None
    country: str | None = None


class PostSnapshot(Event):
    post_id: NonEmpty
    profile_id: NonEmpty
    platform: Platform
    post_type: PostType
    published_at: EpochMillis
    likes: Int64
    comments: Int64
    views: Int64 | None = None
    plays: Int64 | None = None


class ScrapeRequestStatus(Event):
    request_id: NonEmpty
    post_id: NonEmpty
    flow: NonEmpty
    status: ScrapeStatus
    attempt: Int32 = 1
    error: str | None = None


class RefreshRequest(Event):
    request_id: NonEmpty
    post_id: NonEmpty
    flow: NonEmpty
    reason: str
    published_at: EpochMillis


# --- user activity --------------------------------------------------------------------------------


class AuthAttempt(Event):
    tenant_id: NonEmpty
    user_id: NonEmpty
    success: bool
    ip: str | None = None
    user_agent: str | None = None
    failure_reason: str | None = None


class SessionEvent(Event):
    session_id: NonEmpty
    tenant_id: NonEmpty
    user_id: NonEmpty
    kind: SessionKind


class FeatureUse(Event):
    tenant_id: NonEmpty
    user_id: NonEmpty
    feature: NonEmpty
    action: str | None = None


class ApiCall(Event):
    tenant_id: NonEmpty
    user_id: str | None = None
    endpoint: NonEmpty
    method: NonEmpty
    status_code: Int32
    latency_ms: float


# --- stream processor outputs ---------------------------------------------------------------------


class ProfileRollingMetrics(Event):
    profile_id: NonEmpty
    version: Int64
    as_of: EpochMillis
    platform: Platform
    followers: Int64
    followers_growth_7d: Int64 | None = None
    followers_growth_30d: Int64 | None = None
    followers_growth_90d: Int64 | None = None
    growth_rate_7d: float | None = None
    growth_rate_30d: float | None = None
    growth_rate_90d: float | None = None
    avg_likes: float | None = None
    avg_comments: float | None = None
    avg_views: float | None = None
    engagement_rate: float | None = None
    likes_to_comment_ratio: float | None = None
    avg_posts_per_week: float | None = None
    likes_spread: float | None = None
    posts_counted: Int32 = 0
    follower_group: str
    category: str | None = None
    language: str | None = None


class PostMetrics(Event):
    post_id: NonEmpty
    version: Int64
    profile_id: NonEmpty
    platform: Platform
    post_type: PostType
    published_at: EpochMillis
    likes: Int64
    comments: Int64
    views: Int64 | None = None
    plays: Int64 | None = None
    engagement: Int64
    engagement_rate: float | None = None
    post_class: str


class CollectionMetrics(Event):
    collection_id: NonEmpty
    version: Int64
    posts: Int32
    total_likes: Int64
    total_comments: Int64
    total_views: Int64
    avg_likes: float | None = None
    avg_comments: float | None = None
    avg_views: float | None = None
    avg_engagement_rate: float | None = None


class ScrapePostStatus(Event):
    post_id: NonEmpty
    version: Int64
    last_status: ScrapeStatus
    last_attempt_at: EpochMillis
    last_success_at: EpochMillis | None = None
    failed_30d: Int32
    complete_30d: Int32
    persistently_failing: bool
    stale: bool


# --- hiring and account security (derived) ---------------------------------------------------------


class HiringProcessStatus(Event):
    process_id: NonEmpty
    position_id: NonEmpty
    version: Int64
    status: ProcessStatus
    candidate_name: str
    applied_at: EpochMillis
    screening_at: EpochMillis | None = None
    interviewing_at: EpochMillis | None = None
    final_round_at: EpochMillis | None = None
    closed_at: EpochMillis | None = None
    ghosted_at: EpochMillis | None = None
    last_activity_at: EpochMillis
    interviews: Int32
    interviews_completed: Int32
    next_interview_at: EpochMillis | None = None
    first_response_at: EpochMillis | None = None
    deleted: bool


class HiringPosition(Event):
    position_id: NonEmpty
    company_id: NonEmpty
    version: Int64
    title: str
    location: str | None = None
    status: str
    deleted: bool


class HiringCompany(Event):
    company_id: NonEmpty
    version: Int64
    name: str
    deleted: bool


class AccountSecurity(Event):
    user_id: NonEmpty
    tenant_id: str
    version: Int64
    status: SecurityStatus
    since: EpochMillis | None = None
    failed_logins: Int32
    times_flagged: Int32
    last_failure_at: EpochMillis | None = None
    last_success_at: EpochMillis | None = None


MODELS: dict[str, type[Event]] = {
    "social.profile.snapshot": ProfileSnapshot,
    "social.post.snapshot": PostSnapshot,
    "social.scrape.status": ScrapeRequestStatus,
    "social.scrape.request": RefreshRequest,
    "activity.auth.attempt": AuthAttempt,
    "activity.session.event": SessionEvent,
    "activity.feature.use": FeatureUse,
    "activity.api.call": ApiCall,
    "metrics.profile.rolling": ProfileRollingMetrics,
    "metrics.post.rolling": PostMetrics,
    "metrics.collection.rolling": CollectionMetrics,
    "status.scrape.post": ScrapePostStatus,
    "status.hiring.process": HiringProcessStatus,
    "dim.hiring.position": HiringPosition,
    "dim.hiring.company": HiringCompany,
    "status.account.security": AccountSecurity,
}
