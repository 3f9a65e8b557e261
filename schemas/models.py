"""Pydantic v2 models that mirror the Avro contracts in ``schemas/avro/`` (the source of truth).

``tests/unit/schemas/test_contracts.py`` checks every model against its schema in both directions: field names
and order, types, optionality and defaults. Models validate in strict mode (no silent coercion of "12" to 12)
and forbid unknown fields. Every value is bounded (``schemas/bounds.py``): counts, times, floats and strings are
held to what every later stage stores and derives without overflow, loss or an index error.

An event's ``event_time`` may be at most the admitting component's clock skew past "now": pass
``context={"now_ms": ..., "max_future_skew_ms": ...}`` to ``model_validate``; without a context, ``ingested_at``
is "now" (the ingest API stamped it), and an event without either is not checked.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from schemas.bounds import (
    DEFAULT_FUTURE_SKEW_MS,
    Count,
    DayMillis,
    EpochMillis,
    Finite,
    Id,
    Int32,
    Int64,
    Label,
    LatencyMs,
    Percent,
    Shares,
    Small,
    StatusCode,
    Text,
    UuidStr,
    validate_event_time,
)

Platform = Literal["instagram", "youtube"]
PostType = Literal["image", "carousel", "reel", "video", "short", "story"]
ContentType = Literal["reel", "image", "story", "video"]
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
    source: Id
    schema_version: Int32 = 1

    @model_validator(mode="after")
    def _not_in_the_future(self, info: ValidationInfo) -> Self:
        ctx = info.context if isinstance(info.context, dict) else {}
        now = ctx.get("now_ms", self.ingested_at)
        if now is not None:
            reason = validate_event_time(self.event_time, now, ctx.get("max_future_skew_ms", DEFAULT_FUTURE_SKEW_MS))
            if reason is not None:
                raise ValueError(reason)
        return self


# --- social ---------------------------------------------------------------------------------------


class ProfileSnapshot(Event):
    profile_id: Id
    platform: Platform
    handle: Label
    followers: Count
    following: Count | None = None
    posts_count: Count | None = None
    category: Label | None = None
    language: Label | None = None
    country: Label | None = None
    full_name: Label | None = None
    is_verified: bool | None = None
    is_business: bool | None = None
    profile_type: Label | None = None


class ProfileAudience(Event):
    """Shares are percentages of the audience per label (at most ``MAX_SHARES`` labels per map)."""

    profile_id: Id
    platform: Platform
    gender: Shares = {}
    age: Shares = {}
    countries: Shares = {}
    cities: Shares = {}
    languages: Shares = {}
    authenticity: Percent | None = None
    reachability: Percent | None = None


class ProfileInsight(Event):
    profile_id: Id
    platform: Platform
    day: DayMillis
    content_type: ContentType
    reach: Count
    impressions: Count


class PostSnapshot(Event):
    post_id: Id
    profile_id: Id
    platform: Platform
    post_type: PostType
    published_at: EpochMillis
    likes: Count
    comments: Count
    views: Count | None = None
    plays: Count | None = None
    reach: Count | None = None
    impressions: Count | None = None
    saves: Count | None = None


class ScrapeRequestStatus(Event):
    request_id: Id
    post_id: Id
    flow: Id
    status: ScrapeStatus
    attempt: Small = 1
    error: Text | None = None


class RefreshRequest(Event):
    request_id: Id
    post_id: Id
    flow: Id
    reason: Label
    published_at: EpochMillis
    shortcode: Label | None = None


# --- user activity --------------------------------------------------------------------------------


class AuthAttempt(Event):
    tenant_id: Id
    user_id: Id
    success: bool
    ip: Label | None = None
    user_agent: Text | None = None
    failure_reason: Text | None = None


class SessionEvent(Event):
    session_id: Id
    tenant_id: Id
    user_id: Id
    kind: SessionKind


class FeatureUse(Event):
    tenant_id: Id
    user_id: Id
    feature: Id
    action: Label | None = None


class ApiCall(Event):
    tenant_id: Id
    user_id: Label | None = None
    endpoint: Id
    method: Id
    status_code: StatusCode
    latency_ms: LatencyMs


# --- stream processor outputs ---------------------------------------------------------------------


class ProfileRollingMetrics(Event):
    profile_id: Id
    version: Int64
    as_of: EpochMillis
    platform: Platform
    followers: Count
    followers_growth_7d: Int64 | None = None
    followers_growth_30d: Int64 | None = None
    followers_growth_90d: Int64 | None = None
    growth_rate_7d: Finite | None = None
    growth_rate_30d: Finite | None = None
    growth_rate_90d: Finite | None = None
    avg_likes: Finite | None = None
    avg_comments: Finite | None = None
    avg_views: Finite | None = None
    engagement_rate: Finite | None = None
    likes_to_comment_ratio: Finite | None = None
    avg_posts_per_week: Finite | None = None
    likes_spread: Finite | None = None
    posts_counted: Small = 0
    follower_group: Label
    category: Label | None = None
    language: Label | None = None
    deleted: bool | None = None
    followers_growth_365d: Int64 | None = None
    growth_rate_365d: Finite | None = None
    avg_plays: Finite | None = None
    comments_rate: Finite | None = None
    reels_reach: Finite | None = None
    image_reach: Finite | None = None
    story_reach: Finite | None = None
    reels_impressions: Finite | None = None
    image_impressions: Finite | None = None
    following: Count | None = None
    post_count: Count | None = None
    handle: Label | None = None
    full_name: Label | None = None
    is_verified: bool | None = None
    is_business: bool | None = None
    profile_type: Label | None = None
    country: Label | None = None


class PostMetrics(Event):
    post_id: Id
    version: Int64
    profile_id: Id
    platform: Platform
    post_type: PostType
    published_at: EpochMillis
    likes: Count
    comments: Count
    views: Count | None = None
    plays: Count | None = None
    engagement: Int64
    engagement_rate: Finite | None = None
    post_class: Label
    deleted: bool | None = None
    reach: Count | None = None
    impressions: Count | None = None
    saves: Count | None = None


class CollectionMetrics(Event):
    collection_id: Id
    version: Int64
    posts: Small
    total_likes: Int64
    total_comments: Int64
    total_views: Int64
    avg_likes: Finite | None = None
    avg_comments: Finite | None = None
    avg_views: Finite | None = None
    avg_engagement_rate: Finite | None = None
    deleted: bool | None = None


class ScrapePostStatus(Event):
    post_id: Id
    version: Int64
    last_status: ScrapeStatus
    last_attempt_at: EpochMillis
    last_success_at: EpochMillis | None = None
    failed_30d: Small
    complete_30d: Small
    persistently_failing: bool
    stale: bool
    deleted: bool | None = None


# --- hiring and account security (derived) ---------------------------------------------------------


class HiringProcessStatus(Event):
    process_id: Id
    position_id: Id
    version: Int64
    status: ProcessStatus
    candidate_name: Label
    applied_at: EpochMillis
    screening_at: EpochMillis | None = None
    interviewing_at: EpochMillis | None = None
    final_round_at: EpochMillis | None = None
    closed_at: EpochMillis | None = None
    ghosted_at: EpochMillis | None = None
    last_activity_at: EpochMillis
    interviews: Small
    interviews_completed: Small
    next_interview_at: EpochMillis | None = None
    first_response_at: EpochMillis | None = None
    deleted: bool


class HiringPosition(Event):
    position_id: Id
    company_id: Id
    version: Int64
    title: Label
    location: Label | None = None
    status: Label
    deleted: bool


class HiringCompany(Event):
    company_id: Id
    version: Int64
    name: Label
    deleted: bool


class AccountSecurity(Event):
    user_id: Id
    tenant_id: Label
    version: Int64
    status: SecurityStatus
    since: EpochMillis | None = None
    failed_logins: Small
    times_flagged: Small
    last_failure_at: EpochMillis | None = None
    last_success_at: EpochMillis | None = None


MODELS: dict[str, type[Event]] = {
    "social.profile.snapshot": ProfileSnapshot,
    "social.post.snapshot": PostSnapshot,
    "social.profile.audience": ProfileAudience,
    "social.profile.insight": ProfileInsight,
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
