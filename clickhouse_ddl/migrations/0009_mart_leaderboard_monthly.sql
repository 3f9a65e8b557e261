-- Mart: monthly leaderboards per platform. For every month with snapshots: followers at the month's last
-- snapshot, follower growth against the previous month's last snapshot, and views and plays of the posts
-- published that month (latest counters; 0 without posts). Ranked globally, by category, by language and by
-- category+language (ties broken by profile id), with the previous month's rank in the same board.
CREATE OR REPLACE VIEW leaderboard_monthly AS
WITH
    monthly AS (
        SELECT profile_id, platform, toStartOfMonth(day) AS month,
               argMaxMerge(followers) AS followers
        FROM profile_daily
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
        GROUP BY profile_id, platform, month
    ),
    attributes AS (
        SELECT profile_id, ifNull(category, '') AS category, ifNull(language, '') AS language
        FROM profile_rolling FINAL
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
