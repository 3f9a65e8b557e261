-- Monthly leaderboards in the app's shape (docs/discovery.md): per calendar month, board (instagram, youtube, and
-- 'all' with both platforms' profiles) and profile not deleted: the month's values, 30 ranks (5 metrics x 6
-- scopes, ties to the smaller profile id) as a map from rank name to rank, and the previous month's map beside.
CREATE OR REPLACE VIEW leaderboard_values AS
WITH
    alive AS (
        SELECT profile_id, category, language, country, profile_type
        FROM profile_rolling FINAL
        WHERE NOT ifNull(deleted, false)
    ),
    monthly AS (
        SELECT profile_id, platform, toStartOfMonth(day) AS month, argMaxMerge(followers) AS followers
        FROM profile_daily
        WHERE profile_id IN (SELECT profile_id FROM alive)
        GROUP BY profile_id, platform, month
    ),
    with_change AS (
        SELECT profile_id, platform, month, followers,
               if(lagInFrame(month, 1, toDate(0)) OVER w = addMonths(month, -1),
                  toNullable(followers - lagInFrame(followers, 1, 0) OVER w), NULL) AS followers_change
        FROM monthly
        WINDOW w AS (PARTITION BY profile_id, platform ORDER BY month ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    ),
    post_months AS (
        SELECT profile_id, toStartOfMonth(published_at) AS month, count() AS posts,
               avg(likes) AS avg_likes, avg(comments) AS avg_comments, avg(views) AS avg_views,
               avg(plays) AS avg_plays, sum(ifNull(views, 0)) AS total_views, sum(ifNull(plays, 0)) AS total_plays
        FROM post_rolling FINAL
        WHERE NOT ifNull(deleted, false) AND post_type != 'story'
        GROUP BY profile_id, month
    )
SELECT
    c.month AS month,
    c.profile_id AS profile_id,
    c.platform AS platform,
    c.followers AS followers,
    c.followers_change AS followers_change,
    if(p.posts = 0, NULL, toNullable(p.avg_likes)) AS avg_likes,
    if(p.posts = 0, NULL, toNullable(p.avg_comments)) AS avg_comments,
    if(p.posts = 0, NULL, p.avg_views) AS avg_views,
    if(p.posts = 0, NULL, p.avg_plays) AS avg_plays,
    p.total_views AS views,
    p.total_plays AS plays,
    if(p.posts = 0 OR c.followers = 0, NULL, toNullable((p.avg_likes + p.avg_comments) / c.followers * 100))
        AS engagement_rate
FROM with_change AS c
LEFT JOIN post_months AS p ON p.profile_id = c.profile_id AND p.month = c.month;

-- the ranks of every board: each platform's own, and 'all' (the same rows once more, ranked together)
CREATE OR REPLACE VIEW leaderboard_ranks AS
WITH
    joined AS (
        SELECT
            v.*,
            a.category AS s_category,
            a.language AS s_language,
            if(a.category IS NULL OR a.language IS NULL, NULL, concat(a.category, '|', a.language))
                AS s_category_language,
            a.country AS s_country,
            a.profile_type AS s_profile_type
        FROM leaderboard_values AS v
        INNER JOIN (SELECT profile_id, category, language, country, profile_type
                    FROM profile_rolling FINAL WHERE NOT ifNull(deleted, false)) AS a ON a.profile_id = v.profile_id
    ),
    boards AS (
        SELECT platform AS board, * FROM joined
        UNION ALL
        SELECT 'all' AS board, * FROM joined
    )
SELECT
    board, month, profile_id, platform, followers, followers_change, engagement_rate, views, plays,
    avg_likes, avg_comments, avg_views, avg_plays,
    if(followers IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, isNull(followers)
        ORDER BY followers DESC, profile_id))) AS followers_global,
    if(followers IS NULL OR s_category IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category, isNull(followers), isNull(s_category)
        ORDER BY followers DESC, profile_id))) AS followers_category,
    if(followers IS NULL OR s_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_language, isNull(followers), isNull(s_language)
        ORDER BY followers DESC, profile_id))) AS followers_language,
    if(followers IS NULL OR s_category_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category_language, isNull(followers), isNull(s_category_language)
        ORDER BY followers DESC, profile_id))) AS followers_category_language,
    if(followers IS NULL OR s_country IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_country, isNull(followers), isNull(s_country)
        ORDER BY followers DESC, profile_id))) AS followers_country,
    if(followers IS NULL OR s_profile_type IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_profile_type, isNull(followers), isNull(s_profile_type)
        ORDER BY followers DESC, profile_id))) AS followers_profile_type,
    if(followers_change IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, isNull(followers_change)
        ORDER BY followers_change DESC, profile_id))) AS followers_change_global,
    if(followers_change IS NULL OR s_category IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category, isNull(followers_change), isNull(s_category)
        ORDER BY followers_change DESC, profile_id))) AS followers_change_category,
    if(followers_change IS NULL OR s_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_language, isNull(followers_change), isNull(s_language)
        ORDER BY followers_change DESC, profile_id))) AS followers_change_language,
    if(followers_change IS NULL OR s_category_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category_language, isNull(followers_change), isNull(s_category_language)
        ORDER BY followers_change DESC, profile_id))) AS followers_change_category_language,
    if(followers_change IS NULL OR s_country IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_country, isNull(followers_change), isNull(s_country)
        ORDER BY followers_change DESC, profile_id))) AS followers_change_country,
    if(followers_change IS NULL OR s_profile_type IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_profile_type, isNull(followers_change), isNull(s_profile_type)
        ORDER BY followers_change DESC, profile_id))) AS followers_change_profile_type,
    if(engagement_rate IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, isNull(engagement_rate)
        ORDER BY engagement_rate DESC, profile_id))) AS engagement_rate_global,
    if(engagement_rate IS NULL OR s_category IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category, isNull(engagement_rate), isNull(s_category)
        ORDER BY engagement_rate DESC, profile_id))) AS engagement_rate_category,
    if(engagement_rate IS NULL OR s_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_language, isNull(engagement_rate), isNull(s_language)
        ORDER BY engagement_rate DESC, profile_id))) AS engagement_rate_language,
    if(engagement_rate IS NULL OR s_category_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category_language, isNull(engagement_rate), isNull(s_category_language)
        ORDER BY engagement_rate DESC, profile_id))) AS engagement_rate_category_language,
    if(engagement_rate IS NULL OR s_country IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_country, isNull(engagement_rate), isNull(s_country)
        ORDER BY engagement_rate DESC, profile_id))) AS engagement_rate_country,
    if(engagement_rate IS NULL OR s_profile_type IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_profile_type, isNull(engagement_rate), isNull(s_profile_type)
        ORDER BY engagement_rate DESC, profile_id))) AS engagement_rate_profile_type,
    if(views IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, isNull(views)
        ORDER BY views DESC, profile_id))) AS views_global,
    if(views IS NULL OR s_category IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category, isNull(views), isNull(s_category)
        ORDER BY views DESC, profile_id))) AS views_category,
    if(views IS NULL OR s_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_language, isNull(views), isNull(s_language)
        ORDER BY views DESC, profile_id))) AS views_language,
    if(views IS NULL OR s_category_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category_language, isNull(views), isNull(s_category_language)
        ORDER BY views DESC, profile_id))) AS views_category_language,
    if(views IS NULL OR s_country IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_country, isNull(views), isNull(s_country)
        ORDER BY views DESC, profile_id))) AS views_country,
    if(views IS NULL OR s_profile_type IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_profile_type, isNull(views), isNull(s_profile_type)
        ORDER BY views DESC, profile_id))) AS views_profile_type,
    if(plays IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, isNull(plays)
        ORDER BY plays DESC, profile_id))) AS plays_global,
    if(plays IS NULL OR s_category IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category, isNull(plays), isNull(s_category)
        ORDER BY plays DESC, profile_id))) AS plays_category,
    if(plays IS NULL OR s_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_language, isNull(plays), isNull(s_language)
        ORDER BY plays DESC, profile_id))) AS plays_language,
    if(plays IS NULL OR s_category_language IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_category_language, isNull(plays), isNull(s_category_language)
        ORDER BY plays DESC, profile_id))) AS plays_category_language,
    if(plays IS NULL OR s_country IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_country, isNull(plays), isNull(s_country)
        ORDER BY plays DESC, profile_id))) AS plays_country,
    if(plays IS NULL OR s_profile_type IS NULL, NULL, toNullable(row_number() OVER (PARTITION BY board, month, s_profile_type, isNull(plays), isNull(s_profile_type)
        ORDER BY plays DESC, profile_id))) AS plays_profile_type
FROM boards;

CREATE OR REPLACE VIEW leaderboard AS
WITH ranked AS (
    SELECT
        board, month, profile_id, platform, followers, followers_change, engagement_rate, views, plays,
        avg_likes, avg_comments, avg_views, avg_plays,
        arrayFilter(x -> x.2 IS NOT NULL, [('followers_global', followers_global), ('followers_category', followers_category), ('followers_language', followers_language), ('followers_category_language', followers_category_language), ('followers_country', followers_country), ('followers_profile_type', followers_profile_type), ('followers_change_global', followers_change_global), ('followers_change_category', followers_change_category), ('followers_change_language', followers_change_language), ('followers_change_category_language', followers_change_category_language), ('followers_change_country', followers_change_country), ('followers_change_profile_type', followers_change_profile_type), ('engagement_rate_global', engagement_rate_global), ('engagement_rate_category', engagement_rate_category), ('engagement_rate_language', engagement_rate_language), ('engagement_rate_category_language', engagement_rate_category_language), ('engagement_rate_country', engagement_rate_country), ('engagement_rate_profile_type', engagement_rate_profile_type), ('views_global', views_global), ('views_category', views_category), ('views_language', views_language), ('views_category_language', views_category_language), ('views_country', views_country), ('views_profile_type', views_profile_type), ('plays_global', plays_global), ('plays_category', plays_category), ('plays_language', plays_language), ('plays_category_language', plays_category_language), ('plays_country', plays_country), ('plays_profile_type', plays_profile_type)]) AS named
    FROM leaderboard_ranks
),
maps AS (
    SELECT *, mapFromArrays(arrayMap(x -> x.1, named), arrayMap(x -> assumeNotNull(x.2), named)) AS ranks
    FROM ranked
)
SELECT
    cur.month AS month,
    cur.board AS platform,
    cur.profile_id AS profile_id,
    cur.profile_id AS platform_profile_id,
    cur.platform AS profile_platform,
    d.handle AS handle,
    cur.followers AS followers,
    cur.followers_change AS followers_change,
    cur.engagement_rate AS engagement_rate,
    cur.avg_likes AS avg_likes,
    cur.avg_comments AS avg_comments,
    cur.avg_views AS avg_views,
    cur.avg_plays AS avg_plays,
    cur.views AS views,
    cur.plays AS plays,
    d.audience_gender AS audience_gender,
    d.search_phrase AS search_phrase,
    prev.ranks AS last_month_ranks,
    cur.ranks AS current_month_ranks
FROM maps AS cur
LEFT JOIN (SELECT board, month, profile_id, ranks FROM maps) AS prev
    ON prev.board = cur.board AND prev.profile_id = cur.profile_id AND prev.month = addMonths(cur.month, -1)
LEFT JOIN (SELECT profile_id, handle, audience_gender, search_phrase FROM discovery_profile_graded) AS d
    ON d.profile_id = cur.profile_id;
