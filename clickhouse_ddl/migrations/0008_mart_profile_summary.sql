-- Mart: one row per profile with its latest metrics and a grade per metric within its follower group.
-- Grade thresholds are the group's p40/p60/p75/p90 (linear interpolation, like PERCENTILE.INC) over the
-- profiles whose value is finite and non-zero; > p90 Excellent, > p75 Very Good, > p60 Good,
-- > p40 Average, else Poor; a null, zero, NaN or infinite value gets no grade.
CREATE FUNCTION IF NOT EXISTS stir_grade AS (x, q) ->
    multiIf(x IS NULL OR NOT isFinite(x) OR x = 0 OR empty(q), NULL,
            x > q[4], 'Excellent', x > q[3], 'Very Good', x > q[2], 'Good', x > q[1], 'Average', 'Poor');

CREATE OR REPLACE VIEW profile_summary AS
WITH
    latest AS (SELECT * FROM profile_rolling FINAL),
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
