"""The snapshot specs: what the app reads, where it comes from, and how often it is refreshed (the types and
their rules: ``spec.py``; the discovery pages' and leaderboards' specs: ``discovery_specs.py``)."""

from __future__ import annotations

from serving_loader.discovery_specs import DISCOVERY_SPECS
from serving_loader.spec import Bands, Incremental, Reconcile, Spec, cols, inserted

__all__ = ["SPECS", "Bands", "Incremental", "Reconcile", "Spec", "by_name", "cols", "inserted"]

GRADES = Bands(
    query="SELECT * FROM profile_summary_graded",
    thresholds="SELECT * FROM profile_grade_thresholds",
    values="profile_rolling FINAL WHERE NOT ifNull(deleted, false)",
    group="follower_group",
    metrics=(("q_engagement", "engagement_rate"), ("q_likes", "avg_likes"), ("q_comments", "avg_comments"),
             ("q_views", "avg_views"), ("q_growth", "growth_rate_30d"), ("q_posts", "avg_posts_per_week")),
)  # fmt: skip


SPECS: tuple[Spec, ...] = (
    Spec(
        name="profile_summary",
        query="SELECT * FROM profile_summary",
        columns=cols(
            "profile_id text, platform text, category text, language text, follower_group text, "
            "followers bigint, followers_growth_7d bigint, followers_growth_30d bigint, "
            "followers_growth_90d bigint, growth_rate_30d float8, avg_likes float8, avg_comments float8, "
            "avg_views float8, engagement_rate float8, likes_to_comment_ratio float8, "
            "avg_posts_per_week float8, likes_spread float8, engagement_grade text, likes_grade text, "
            "comments_grade text, views_grade text, growth_grade text, posts_per_week_grade text, "
            "as_of timestamptz, version bigint"
        ),
        indexes=(("profile_id",), ("follower_group", "engagement_rate"), ("platform", "category")),
        interval_s=1,
        snapshot_interval_s=5,
        incremental=Incremental(inserted("profile_rolling", "profile_id"), bands=GRADES),
        reconcile=Reconcile("SELECT id::text FROM profiles", others=True),
    ),
    Spec(
        name="post_metrics",
        query="SELECT post_id, profile_id, platform, post_type, published_at, likes, comments, views, plays, "
        "engagement, engagement_rate, post_class, version, reach, impressions, saves FROM post_rolling FINAL "
        "WHERE NOT ifNull(deleted, false)",
        columns=cols(
            "post_id text, profile_id text, platform text, post_type text, published_at timestamptz, "
            "likes bigint, comments bigint, views bigint, plays bigint, engagement bigint, "
            "engagement_rate float8, post_class text, version bigint, reach bigint, impressions bigint, saves bigint"
        ),
        indexes=(("post_id",), ("profile_id", "published_at")),
        interval_s=1,
        snapshot_interval_s=10,
        incremental=Incremental(inserted("post_rolling", "post_id")),
    ),
    Spec(
        name="leaderboard_monthly",
        query="SELECT month, platform, scope, scope_value, metric, profile_id, value, rank, prev_rank "
        "FROM leaderboard_monthly",
        columns=cols(
            "month date, platform text, scope text, scope_value text, metric text, profile_id text, "
            "value float8, rank bigint, prev_rank bigint"
        ),
        indexes=(
            ("month", "platform", "scope", "scope_value", "metric", "profile_id"),
            ("month", "platform", "scope", "scope_value", "metric", "rank"),
        ),
        interval_s=30,
        # the newest month up to this one: no row dated ahead of the clock can take the current board over
        views=(
            (
                "leaderboard_current",
                "SELECT * FROM {table} WHERE month = (SELECT max(month) FROM {table} "
                "WHERE month <= date_trunc('month', now())::date)",
            ),
        ),
    ),
    Spec(
        name="profile_followers_daily",
        query="SELECT profile_id, platform, day, argMaxMerge(followers) AS followers FROM profile_daily "
        "WHERE profile_id NOT IN (SELECT profile_id FROM profile_rolling FINAL WHERE ifNull(deleted, false)) "
        "GROUP BY profile_id, platform, day",
        columns=cols("profile_id text, platform text, day date, followers bigint"),
        indexes=(("profile_id", "platform", "day"),),
        interval_s=60,
    ),
    Spec(
        name="collection_summary",
        query="SELECT * FROM collection_summary",
        columns=cols(
            "collection_id text, posts integer, total_likes bigint, total_comments bigint, total_views bigint, "
            "engagement bigint, avg_likes float8, avg_comments float8, avg_views float8, "
            "avg_engagement_rate float8, as_of timestamptz, version bigint"
        ),
        indexes=(("collection_id",),),
        interval_s=2,
        snapshot_interval_s=10,
        incremental=Incremental(inserted("collection_rolling", "collection_id")),
    ),
    Spec(
        name="scrape_health",
        query="SELECT granularity, flow, status, window_start, requests, events FROM scrape_health "
        "WHERE window_start >= now() - INTERVAL 2 DAY OR granularity = '1h'",
        columns=cols(
            "granularity text, flow text, status text, window_start timestamptz, requests bigint, events bigint"
        ),
        indexes=(("granularity", "flow", "status", "window_start"),),
        interval_s=10,
        min_row_ratio=0.0,  # windows age out: a smaller table is normal
    ),
    Spec(
        name="scrape_post_status",
        query="SELECT * FROM scrape_post_summary",
        columns=cols(
            "post_id text, last_status text, last_attempt_at timestamptz, last_success_at timestamptz, "
            "failed_30d integer, complete_30d integer, persistently_failing boolean, stale boolean, "
            "version bigint"
        ),
        indexes=(("post_id",), ("persistently_failing", "stale")),
        interval_s=10,
    ),
    # --- hiring ---------------------------------------------------------------------------------------
    Spec(
        name="hiring_processes",
        query="SELECT process_id, position_id, company_id, company_name, position_title, candidate_name, status, "
        "applied_at, screening_at, interviewing_at, final_round_at, closed_at, ghosted_at, last_activity_at, "
        "interviews, interviews_completed, next_interview_at, first_response_at, applied_days, screening_days, "
        "interviewing_days, final_round_days, version FROM hiring_processes",
        columns=cols(
            "process_id text, position_id text, company_id text, company_name text, position_title text, "
            "candidate_name text, status text, applied_at timestamptz, screening_at timestamptz, "
            "interviewing_at timestamptz, final_round_at timestamptz, closed_at timestamptz, ghosted_at timestamptz, "
            "last_activity_at timestamptz, interviews integer, interviews_completed integer, "
            "next_interview_at timestamptz, first_response_at timestamptz, applied_days float8, "
            "screening_days float8, interviewing_days float8, final_round_days float8, version bigint"
        ),
        indexes=(("process_id",), ("company_id", "status"), ("position_id",)),
        interval_s=2,
        snapshot_interval_s=10,
        # a process's row carries its position's title and its company's name
        incremental=Incremental(
            inserted("hiring_process", "process_id") + " UNION DISTINCT SELECT process_id FROM hiring_process FINAL "
            "WHERE position_id IN (" + inserted("hiring_position", "position_id") + " UNION DISTINCT SELECT "
            "position_id FROM hiring_position FINAL WHERE company_id IN ("
            + inserted("hiring_company", "company_id")
            + "))"
        ),
        reconcile=Reconcile("SELECT id::text FROM processes"),
    ),
    Spec(
        name="active_applications",
        query="SELECT * FROM active_applications",
        columns=cols(
            "process_id text, position_id text, company_id text, company_name text, position_title text, "
            "candidate_name text, status text, stage_entered_at timestamptz, applied_at timestamptz, "
            "last_activity_at timestamptz, interviews integer, interviews_completed integer, "
            "next_interview_at timestamptz, next_action text, duplicate_active boolean, version bigint"
        ),
        indexes=(("process_id",), ("company_id", "status"), ("position_id",)),
        interval_s=10,
        min_row_ratio=0.0,  # applications end: a smaller table is normal
    ),
    Spec(
        name="interview_analytics",
        query="SELECT * FROM interview_analytics",
        columns=cols(
            "company_id text, company_name text, processes bigint, active bigint, offers bigint, rejections bigint, "
            "withdrawals bigint, ghosted bigint, response_rate float8, ghosting_rate float8, "
            "interviews_per_process float8, avg_applied_days float8, avg_screening_days float8, "
            "avg_interviewing_days float8, avg_final_round_days float8"
        ),
        indexes=(("company_id",),),
        interval_s=30,
    ),
    Spec(
        name="application_daily_stats",
        query="SELECT * FROM application_daily_stats",
        columns=cols(
            "day date, company_id text, applications bigint, offers bigint, rejections bigint, withdrawals bigint, "
            "ghosted bigint"
        ),
        indexes=(("day", "company_id"),),
        interval_s=60,
    ),
    # --- user activity ----------------------------------------------------------------------------------
    Spec(
        name="tenant_activity",
        query="SELECT tenant_id, day, dau, wau, mau, sessions, avg_session_s FROM tenant_activity_daily",
        columns=cols(
            "tenant_id text, day date, dau bigint, wau bigint, mau bigint, sessions bigint, avg_session_s float8"
        ),
        indexes=(("tenant_id", "day"),),
        interval_s=60,
    ),
    Spec(
        name="account_security",
        query="SELECT user_id, tenant_id, status, since, failed_logins, times_flagged, last_failure_at, "
        "last_success_at, version FROM account_security FINAL",
        columns=cols(
            "user_id text, tenant_id text, status text, since timestamptz, failed_logins integer, "
            "times_flagged integer, last_failure_at timestamptz, last_success_at timestamptz, version bigint"
        ),
        indexes=(("user_id",), ("tenant_id", "status")),
        interval_s=1,
        snapshot_interval_s=5,
        incremental=Incremental(inserted("account_security", "user_id")),
    ),
    *DISCOVERY_SPECS,
)


def by_name() -> dict[str, Spec]:
    return {s.name: s for s in SPECS}
