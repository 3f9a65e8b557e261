-- Growth series per profile (docs/discovery.md) from every snapshot sent: the newest snapshot of each UTC day by
-- (event_time, event_id) with its followers, following and posts count (argMax states are idempotent: a
-- redelivered snapshot changes nothing); the daily series, a gap-filled one for charts, weekly and monthly.
-- (Snapshots read before this table existed are not in it: a profile's series starts with its next snapshot.)
CREATE TABLE IF NOT EXISTS profile_daily_counts
(
    profile_id String,
    platform LowCardinality(String),
    day Date,
    newest AggregateFunction(argMax, Tuple(Int64, Nullable(Int64), Nullable(Int64)), Tuple(Int64, String))
)
ENGINE = AggregatingMergeTree
ORDER BY (profile_id, platform, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_daily_counts_mv TO profile_daily_counts AS
SELECT
    profile_id,
    platform,
    toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day,
    argMaxState((followers, following, posts_count), (event_time, toString(event_id))) AS newest
FROM profile_snapshot_queue
WHERE length(_error) = 0
GROUP BY profile_id, platform, day;

CREATE OR REPLACE VIEW profile_series_daily AS
SELECT profile_id, platform, day, v.1 AS followers, v.2 AS following, v.3 AS posts_count
FROM
(
    SELECT profile_id, platform, day, argMaxMerge(newest) AS v
    FROM profile_daily_counts
    WHERE profile_id NOT IN (SELECT profile_id FROM profile_rolling FINAL WHERE ifNull(deleted, false))
    GROUP BY profile_id, platform, day
);

-- every day from a profile's first to its last; a day without a snapshot carries the newest day before it
CREATE OR REPLACE VIEW profile_series_daily_filled AS
WITH
    daily AS (SELECT * FROM profile_series_daily),
    spans AS (SELECT profile_id, platform, min(day) AS first, max(day) AS last FROM daily GROUP BY profile_id, platform),
    days AS (
        SELECT profile_id, platform, toDate(arrayJoin(range(toUInt32(first), toUInt32(last) + 1))) AS day
        FROM spans
    ),
    sourced AS (
        -- a day without its own row joins the default date (1970-01-01), below every real one
        SELECT d.profile_id AS profile_id, d.platform AS platform, d.day AS day,
               max(s.day) OVER (PARTITION BY d.profile_id, d.platform ORDER BY d.day
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS source_day
        FROM days AS d
        LEFT JOIN (SELECT profile_id, platform, day FROM daily) AS s
            ON s.profile_id = d.profile_id AND s.platform = d.platform AND s.day = d.day
    )
SELECT x.profile_id AS profile_id, x.platform AS platform, x.day AS day, v.followers AS followers,
       v.following AS following, v.posts_count AS posts_count, x.source_day != x.day AS filled
FROM sourced AS x
INNER JOIN daily AS v ON v.profile_id = x.profile_id AND v.platform = x.platform AND v.day = x.source_day;

CREATE OR REPLACE VIEW profile_series_weekly AS
SELECT profile_id, platform, week, followers,
       if(lagInFrame(week, 1, toDate(0)) OVER w = week - 7,
          toNullable(followers - lagInFrame(followers, 1, 0) OVER w), NULL) AS followers_change
FROM
(
    SELECT profile_id, platform, toMonday(day) AS week, argMaxMerge(newest).1 AS followers
    FROM profile_daily_counts
    WHERE profile_id NOT IN (SELECT profile_id FROM profile_rolling FINAL WHERE ifNull(deleted, false))
    GROUP BY profile_id, platform, week
)
WINDOW w AS (PARTITION BY profile_id, platform ORDER BY week ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

CREATE OR REPLACE VIEW profile_series_monthly AS
SELECT profile_id, platform, month, followers,
       if(lagInFrame(month, 1, toDate(0)) OVER w = addMonths(month, -1),
          toNullable(followers - lagInFrame(followers, 1, 0) OVER w), NULL) AS followers_change
FROM
(
    SELECT profile_id, platform, toStartOfMonth(day) AS month, argMaxMerge(newest).1 AS followers
    FROM profile_daily_counts
    WHERE profile_id NOT IN (SELECT profile_id FROM profile_rolling FINAL WHERE ifNull(deleted, false))
    GROUP BY profile_id, platform, month
)
WINDOW w AS (PARTITION BY profile_id, platform ORDER BY month ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);
