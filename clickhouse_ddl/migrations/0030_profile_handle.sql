-- The newest handle of each profile by event time (social.profile.snapshot): what charts and marts label a
-- profile with. argMax states are idempotent, so redelivered snapshots change nothing. (Snapshots read before
-- this table existed are not in it: a profile gets its handle with its next snapshot.)
CREATE TABLE IF NOT EXISTS profile_handle
(
    profile_id String,
    platform LowCardinality(String),
    handle AggregateFunction(argMax, String, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (profile_id, platform);

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_handle_mv TO profile_handle AS
SELECT
    profile_id,
    platform,
    argMaxState(handle, fromUnixTimestamp64Milli(event_time, 'UTC')) AS handle
FROM profile_snapshot_queue
WHERE length(_error) = 0
GROUP BY profile_id, platform;
