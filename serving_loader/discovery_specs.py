"""The serving tables of the Stir app's discovery pages and leaderboards, in the app's shapes
(``docs/discovery.md``): ``instagram_account`` and ``youtube_account`` (the discovery profile per platform),
``leaderboard`` (one row per month, board and profile with JSONB rank maps), the growth series, the insights, the
post ranker (``post_ranks``), the stories with their reach (``story_reach``), the profile page's audience
(``profile_audience_info``), the trending posts (``post_trending``) and the genre overview (``genre_overview``)."""

from __future__ import annotations

from serving_loader.spec import Spec, cols

METRICS = (
    "followers", "avg_likes", "avg_comments", "avg_views", "avg_plays", "comments_rate", "engagement_rate",
    "likes_to_comment_ratio", "likes_spread", "avg_posts_per_week", "reels_reach", "image_reach", "story_reach",
    "reels_impressions", "image_impressions", "post_count", "followers_growth7d", "followers_growth30d",
    "followers_growth90d", "followers_growth1y", "audience_reachability", "audience_authencity",
)  # fmt: skip
COUNTS = {"followers", "post_count"}


def _account_columns() -> str:
    metrics = ", ".join(f"{m} {'bigint' if m in COUNTS else 'float8'}" for m in METRICS)
    grades = ", ".join(f"{m}_grade text" for m in METRICS)
    averages = ", ".join(f"group_avg_{m} float8" for m in METRICS)
    return (
        "profile_id text, handle text, full_name text, is_verified boolean, is_business boolean, profile_type text, "
        f"category text, language text, country text, follower_group text, {metrics}, {grades}, {averages}, "
        "country_rank bigint, category_rank bigint, search_phrase text, audience_gender text, as_of timestamptz, "
        "version bigint"
    )


def _account(name: str, platform: str) -> Spec:
    columns = cols(_account_columns())
    return Spec(
        name=name,
        query=f"SELECT {', '.join(c for c, _ in columns)} FROM discovery_profile_graded WHERE platform = '{platform}'",
        columns=columns,
        indexes=(
            ("profile_id",),
            ("follower_group", "followers"),
            ("country", "category", "followers"),
            ("handle",),
        ),
        interval_s=5,
    )


LEADERBOARD_COLUMNS = (
    "month date, platform text, profile_id text, platform_profile_id text, profile_platform text, handle text, "
    "followers bigint, followers_change bigint, engagement_rate float8, avg_likes float8, avg_comments float8, "
    "avg_views float8, avg_plays float8, views bigint, plays bigint, audience_gender text, search_phrase text, "
    "last_month_ranks jsonb, current_month_ranks jsonb"
)


def _simple(name: str, columns: str, key: tuple[str, ...], interval_s: float, view: str | None = None) -> Spec:
    c = cols(columns)
    return Spec(name=name, query=f"SELECT {', '.join(n for n, _ in c)} FROM {view or name}", columns=c,
                indexes=(key,), interval_s=interval_s)  # fmt: skip


DISCOVERY_SPECS: tuple[Spec, ...] = (
    _account("instagram_account", "instagram"),
    _account("youtube_account", "youtube"),
    Spec(
        name="leaderboard",
        query=f"SELECT {', '.join(c for c, _ in cols(LEADERBOARD_COLUMNS))} FROM leaderboard",
        columns=cols(LEADERBOARD_COLUMNS),
        indexes=(("month", "platform", "profile_id"), ("month", "platform")),
        interval_s=30,
    ),
    _simple(
        "profile_insights",
        "profile_id text, platform text, day date, content_type text, reach bigint, impressions bigint",
        ("profile_id", "day", "content_type"),
        60,
    ),
    _simple(
        "profile_series_daily",
        "profile_id text, platform text, day date, followers bigint, following bigint, posts_count bigint",
        ("profile_id", "platform", "day"),
        60,
    ),
    _simple(
        "profile_series_daily_filled",
        "profile_id text, platform text, day date, followers bigint, "
        "following bigint, posts_count bigint, filled boolean",
        ("profile_id", "platform", "day"),
        60,
    ),
    _simple(
        "profile_series_weekly",
        "profile_id text, platform text, week date, followers bigint, followers_change bigint",
        ("profile_id", "platform", "week"),
        60,
    ),
    _simple(
        "profile_series_monthly",
        "profile_id text, platform text, month date, followers bigint, followers_change bigint",
        ("profile_id", "platform", "month"),
        60,
    ),
    _simple(
        "post_ranks",
        "profile_id text, post_class text, post_id text, platform text, post_type text, published_at timestamptz, "
        "likes bigint, comments bigint, views bigint, plays bigint, engagement_rate float8, recency_rank bigint, "
        "likes_rank_by_class bigint, comments_rank_by_class bigint, plays_rank_by_class bigint, "
        "views_rank_by_class bigint",
        ("profile_id", "post_class", "recency_rank"),
        30,
    ),
    _simple(
        "story_reach",
        "post_id text, profile_id text, platform text, published_at timestamptz, likes bigint, comments bigint, "
        "platform_reach bigint, followers_then bigint, engagement_rate float8, estimated boolean, story_reach bigint",
        ("profile_id", "published_at"),
        30,
    ),
    _simple(
        "profile_audience_info",
        "profile_id text, platform text, gender jsonb, age jsonb, top_countries jsonb, top_cities jsonb, "
        "languages jsonb, authenticity float8, reachability float8, dominant_gender text, as_of timestamptz",
        ("profile_id",),
        60,
    ),
    _simple(
        "post_trending",
        "period text, platform text, category text, trending_rank bigint, post_id text, profile_id text, "
        "post_type text, published_at timestamptz, engagement_start bigint, engagement_end bigint, "
        "engagement_growth bigint",
        ("period", "platform", "category", "trending_rank"),
        60,
    ),
    _simple(
        "genre_overview",
        "category text, platform text, month date, creators bigint, posts bigint, median_engagement_rate float8",
        ("category", "platform", "month"),
        60,
    ),
)
