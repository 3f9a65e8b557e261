-- What the discovery profile reads (docs/discovery.md): the profile snapshot's new attributes, the post snapshot's
-- reach, impressions and saves (and stories), the rolling rows' new metrics. The rolling tables gain the new
-- columns; the three sources and the views that read them are re-created to carry them (the tables keep their
-- rows, the Kafka engine's consumer groups keep their offsets).
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS followers_growth_365d Nullable(Int64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS growth_rate_365d Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS avg_plays Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS comments_rate Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS reels_reach Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS image_reach Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS story_reach Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS reels_impressions Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS image_impressions Nullable(Float64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS following Nullable(Int64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS post_count Nullable(Int64);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS handle Nullable(String);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS full_name Nullable(String);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS is_verified Nullable(Bool);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS is_business Nullable(Bool);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS profile_type Nullable(String);
ALTER TABLE profile_rolling ADD COLUMN IF NOT EXISTS country Nullable(String);
DROP VIEW IF EXISTS profile_rolling_mv;
DROP VIEW IF EXISTS profile_rolling_errors_mv;
DROP TABLE IF EXISTS profile_rolling_queue;
{{source profile_rolling_queue metrics.profile.rolling}};
CREATE MATERIALIZED VIEW IF NOT EXISTS profile_rolling_mv TO profile_rolling AS
SELECT
    {{select metrics.profile.rolling}}
FROM profile_rolling_queue
WHERE length(_error) = 0;

ALTER TABLE post_rolling ADD COLUMN IF NOT EXISTS reach Nullable(Int64);
ALTER TABLE post_rolling ADD COLUMN IF NOT EXISTS impressions Nullable(Int64);
ALTER TABLE post_rolling ADD COLUMN IF NOT EXISTS saves Nullable(Int64);
DROP VIEW IF EXISTS post_rolling_mv;
DROP VIEW IF EXISTS post_rolling_errors_mv;
DROP TABLE IF EXISTS post_rolling_queue;
{{source post_rolling_queue metrics.post.rolling}};
CREATE MATERIALIZED VIEW IF NOT EXISTS post_rolling_mv TO post_rolling AS
SELECT
    {{select metrics.post.rolling}}
FROM post_rolling_queue
WHERE length(_error) = 0;

DROP VIEW IF EXISTS profile_daily_mv;
DROP VIEW IF EXISTS profile_handle_mv;
DROP VIEW IF EXISTS profile_snapshot_errors_mv;
DROP TABLE IF EXISTS profile_snapshot_queue;
{{source profile_snapshot_queue social.profile.snapshot}};
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
CREATE MATERIALIZED VIEW IF NOT EXISTS profile_handle_mv TO profile_handle AS
SELECT
    profile_id,
    platform,
    argMaxState(handle, fromUnixTimestamp64Milli(event_time, 'UTC')) AS handle
FROM profile_snapshot_queue
WHERE length(_error) = 0
GROUP BY profile_id, platform;
