-- Deletes flow through (a row deleted in the OLTP database): the rolling tables gain the contracts' nullable
-- `deleted` column (null: not deleted); their sources and materialized views are re-created to carry it (the
-- tables keep their rows, the Kafka engine's consumer groups keep their offsets); every mart leaves deleted
-- profiles, posts and collections out, leaderboards included.
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS deleted Nullable(Bool);
DROP VIEW IF EXISTS profile_rolling_mv;
DROP VIEW IF EXISTS profile_rolling_errors_mv;
DROP TABLE IF EXISTS profile_rolling_queue;
{{source profile_rolling_queue metrics.profile.rolling}};
CREATE MATERIALIZED VIEW IF NOT EXISTS profile_rolling_mv TO profile_rolling AS
SELECT
    {{select metrics.profile.rolling}}
FROM profile_rolling_queue
WHERE length(_error) = 0;

ALTER TABLE post_rolling ADD COLUMN IF NOT EXISTS deleted Nullable(Bool);
DROP VIEW IF EXISTS post_rolling_mv;
DROP VIEW IF EXISTS post_rolling_errors_mv;
DROP TABLE IF EXISTS post_rolling_queue;
{{source post_rolling_queue metrics.post.rolling}};
CREATE MATERIALIZED VIEW IF NOT EXISTS post_rolling_mv TO post_rolling AS
SELECT
    {{select metrics.post.rolling}}
FROM post_rolling_queue
WHERE length(_error) = 0;

ALTER TABLE collection_rolling ADD COLUMN IF NOT EXISTS deleted Nullable(Bool);
DROP VIEW IF EXISTS collection_rolling_mv;
DROP VIEW IF EXISTS collection_rolling_errors_mv;
DROP VIEW IF EXISTS collection_daily_mv;
DROP TABLE IF EXISTS collection_rolling_queue;
{{source collection_rolling_queue metrics.collection.rolling}};
CREATE MATERIALIZED VIEW IF NOT EXISTS collection_rolling_mv TO collection_rolling AS
SELECT
    {{select metrics.collection.rolling}}
FROM collection_rolling_queue
WHERE length(_error) = 0;
CREATE MATERIALIZED VIEW IF NOT EXISTS collection_daily_mv TO collection_daily AS
SELECT
    collection_id,
    toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day,
    argMaxState(total_likes + total_comments, version) AS engagement,
    argMaxState(avg_engagement_rate, version) AS avg_engagement_rate
FROM collection_rolling_queue
WHERE length(_error) = 0
GROUP BY collection_id, day;

-- Mart: one row per collection, its latest aggregates.

ALTER TABLE scrape_post_status ADD COLUMN IF NOT EXISTS deleted Nullable(Bool);
DROP VIEW IF EXISTS scrape_post_status_mv;
DROP VIEW IF EXISTS scrape_post_status_errors_mv;
DROP TABLE IF EXISTS scrape_post_status_queue;
{{source scrape_post_status_queue status.scrape.post}};
CREATE MATERIALIZED VIEW IF NOT EXISTS scrape_post_status_mv TO scrape_post_status AS
SELECT
    {{select status.scrape.post}}
FROM scrape_post_status_queue
WHERE length(_error) = 0;

CREATE OR REPLACE VIEW profile_summary AS
WITH
    latest AS (SELECT * FROM profile_rolling FINAL WHERE NOT ifNull(deleted, false)),
    thresholds AS (
        SELECT
            follower_group,
            quantilesExactInclusiveIf(0.4, 0.6, 0.75, 0.9)(engagement_rate,
                ifNull(isFinite(engagement_rate) AND engagement_rate != 0, 0)) AS q_engagement,
            quantilesExactInclusiveIf(0.4, 0.6, 0.75, 0.9)(avg_likes,
                ifNull(isFinite(avg_likes) AND avg_likes != 0, 0)) AS q_likes,
            quantilesExactInclusiveIf(0.4, 0.6, 0.75, 0.9)(avg_comments,
                ifNull(isFinite(avg_comments) AND avg_comments != 0, 0)) AS q_comments,
            quantilesExactInclusiveIf(0.4, 0.6, 0.75, 0.9)(avg_views,
                ifNull(isFinite(avg_views) AND avg_views != 0, 0)) AS q_views,
            quantilesExactInclusiveIf(0.4, 0.6, 0.75, 0.9)(growth_rate_30d,
                ifNull(isFinite(growth_rate_30d) AND growth_rate_30d != 0, 0)) AS q_growth,
            quantilesExactInclusiveIf(0.4, 0.6, 0.75, 0.9)(avg_posts_per_week,
                ifNull(isFinite(avg_posts_per_week) AND avg_posts_per_week != 0, 0)) AS q_posts
        FROM latest
        GROUP BY follower_group
    )
SELECT
    l.profile_id AS profile_id,
    l.platform AS platform,
    l.category AS category,
    l.language AS language,
    l.follower_group AS follower_group,
    l.followers AS followers,
    l.followers_growth_7d AS followers_growth_7d,
    l.followers_growth_30d AS followers_growth_30d,
    l.followers_growth_90d AS followers_growth_90d,
    l.growth_rate_30d AS growth_rate_30d,
    l.avg_likes AS avg_likes,
    l.avg_comments AS avg_comments,
    l.avg_views AS avg_views,
    l.engagement_rate AS engagement_rate,
    l.likes_to_comment_ratio AS likes_to_comment_ratio,
    l.avg_posts_per_week AS avg_posts_per_week,
    l.likes_spread AS likes_spread,
    stir_grade(l.engagement_rate, t.q_engagement) AS engagement_grade,
    stir_grade(l.avg_likes, t.q_likes) AS likes_grade,
    stir_grade(l.avg_comments, t.q_comments) AS comments_grade,
    stir_grade(l.avg_views, t.q_views) AS views_grade,
    stir_grade(l.growth_rate_30d, t.q_growth) AS growth_grade,
    stir_grade(l.avg_posts_per_week, t.q_posts) AS posts_per_week_grade,
    l.as_of AS as_of,
    l.version AS version
FROM latest AS l
LEFT JOIN thresholds AS t ON t.follower_group = l.follower_group;

CREATE OR REPLACE VIEW leaderboard_monthly AS
WITH
    monthly AS (
        SELECT profile_id, platform, toStartOfMonth(day) AS month,
               argMaxMerge(followers) AS followers
        FROM profile_daily
        WHERE profile_id NOT IN (SELECT profile_id FROM profile_rolling FINAL WHERE ifNull(deleted, false))
        GROUP BY profile_id, platform, month
    ),
    with_growth AS (
        SELECT profile_id, platform, month, followers,
               if(lagInFrame(month, 1, toDate(0)) OVER w = addMonths(month, -1),
                  followers - lagInFrame(followers, 1, 0) OVER w, NULL) AS growth
        FROM monthly
        WINDOW w AS (PARTITION BY profile_id, platform ORDER BY month ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    ),
    post_months AS (
        SELECT profile_id, toStartOfMonth(published_at) AS month,
               sum(ifNull(views, 0)) AS views, sum(ifNull(plays, 0)) AS plays
        FROM post_rolling FINAL
        WHERE NOT ifNull(deleted, false)
        GROUP BY profile_id, platform, month
    ),
    attributes AS (
        SELECT profile_id, ifNull(category, '') AS category, ifNull(language, '') AS language
        FROM profile_rolling FINAL
        WHERE NOT ifNull(deleted, false)
    ),
    boards AS (
        SELECT g.month AS month, g.platform AS platform, sc.1 AS scope, sc.2 AS scope_value,
               m.1 AS metric, g.profile_id AS profile_id, m.2 AS value
        FROM with_growth AS g
        LEFT JOIN post_months AS p ON p.profile_id = g.profile_id AND p.month = g.month
        LEFT JOIN attributes AS a ON a.profile_id = g.profile_id
        ARRAY JOIN
            [('followers', toNullable(toFloat64(g.followers))), ('growth', toFloat64(g.growth)),
             ('views', toNullable(toFloat64(p.views))), ('plays', toNullable(toFloat64(p.plays)))] AS m
        ARRAY JOIN  -- a second ARRAY JOIN: every metric in every scope (arrays in one clause would be zipped)
            [('global', ''), ('category', a.category), ('language', a.language),
             ('category_language', if(a.category = '' OR a.language = '', '', concat(a.category, '|', a.language)))]
            AS sc
        WHERE m.2 IS NOT NULL AND (sc.1 = 'global' OR sc.2 != '')
    ),
    ranked AS (
        SELECT *, row_number() OVER (PARTITION BY month, platform, scope, scope_value, metric
                                     ORDER BY value DESC, profile_id ASC) AS rank
        FROM boards
    )
SELECT month, platform, scope, scope_value, metric, profile_id, assumeNotNull(value) AS value, rank,
       if(lagInFrame(month, 1, toDate(0)) OVER w = addMonths(month, -1),
          toNullable(lagInFrame(rank, 1, 0) OVER w), NULL) AS prev_rank
FROM ranked
WINDOW w AS (PARTITION BY platform, scope, scope_value, metric, profile_id ORDER BY month
             ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

CREATE OR REPLACE VIEW collection_summary AS
SELECT collection_id, posts, total_likes, total_comments, total_views, total_likes + total_comments AS engagement,
       avg_likes, avg_comments, avg_views, avg_engagement_rate, event_time AS as_of, version
FROM collection_rolling FINAL
WHERE NOT ifNull(deleted, false);

CREATE OR REPLACE VIEW scrape_post_summary AS
SELECT post_id, last_status, last_attempt_at, last_success_at, failed_30d, complete_30d,
       persistently_failing, stale, version
FROM scrape_post_status FINAL
WHERE NOT ifNull(deleted, false);
