-- Daily follower series per profile from the raw snapshots (social.profile.snapshot): the newest value of
-- each day by event time. argMax and uniqExact states are idempotent, so redelivered rows change nothing.
{{source profile_snapshot_queue social.profile.snapshot}};

CREATE TABLE IF NOT EXISTS profile_daily
(
    profile_id String,
    platform LowCardinality(String),
    day Date,
    followers AggregateFunction(argMax, Int64, DateTime64(3, 'UTC')),
    snapshots AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
ORDER BY (profile_id, platform, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_daily_mv TO profile_daily AS
SELECT
    profile_id,
    platform,
    toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day,
    argMaxState(followers, fromUnixTimestamp64Milli(event_time, 'UTC')) AS followers,
    uniqExactState(event_id) AS snapshots
FROM profile_snapshot_queue
WHERE length(_error) = 0
GROUP BY profile_id, platform, day;
