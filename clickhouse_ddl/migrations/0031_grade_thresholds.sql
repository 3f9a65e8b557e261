-- The grade thresholds per follower group as a view of their own, and the profile mart beside them: the serving
-- loader's incremental refresh reads the thresholds, and the rows with the thresholds they were graded with
-- (profile_summary_graded), to find the profiles whose grade moved when a group's thresholds moved although
-- their own row did not change. profile_summary returns what it returned before.
CREATE OR REPLACE VIEW profile_grade_thresholds AS
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
FROM profile_rolling FINAL
WHERE NOT ifNull(deleted, false)
GROUP BY follower_group;

CREATE OR REPLACE VIEW profile_summary_graded AS
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
    l.version AS version,
    t.q_engagement AS q_engagement,
    t.q_likes AS q_likes,
    t.q_comments AS q_comments,
    t.q_views AS q_views,
    t.q_growth AS q_growth,
    t.q_posts AS q_posts
FROM (SELECT * FROM profile_rolling FINAL WHERE NOT ifNull(deleted, false)) AS l
LEFT JOIN profile_grade_thresholds AS t ON t.follower_group = l.follower_group;

CREATE OR REPLACE VIEW profile_summary AS
SELECT
    profile_id, platform, category, language, follower_group, followers, followers_growth_7d, followers_growth_30d,
    followers_growth_90d, growth_rate_30d, avg_likes, avg_comments, avg_views, engagement_rate,
    likes_to_comment_ratio, avg_posts_per_week, likes_spread, engagement_grade, likes_grade, comments_grade,
    views_grade, growth_grade, posts_per_week_grade, as_of, version
FROM profile_summary_graded;
