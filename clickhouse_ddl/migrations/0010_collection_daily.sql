-- Daily engagement series per collection from its rolling aggregates (metrics.collection.rolling): the
-- newest aggregate of each day by version.
CREATE TABLE IF NOT EXISTS collection_daily
(
    collection_id String,
    day Date,
    engagement AggregateFunction(argMax, Int64, Int64),
    avg_engagement_rate AggregateFunction(argMax, Nullable(Float64), Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (collection_id, day);

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
CREATE OR REPLACE VIEW collection_summary AS
SELECT collection_id, posts, total_likes, total_comments, total_views, total_likes + total_comments AS engagement,
       avg_likes, avg_comments, avg_views, avg_engagement_rate, event_time AS as_of, version
FROM collection_rolling FINAL;
