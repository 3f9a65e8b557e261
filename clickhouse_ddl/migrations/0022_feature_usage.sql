-- Feature uses (activity.feature.use): distinct users and events per tenant, feature and day.
{{source feature_use_queue activity.feature.use}};

CREATE TABLE IF NOT EXISTS feature_usage_daily
(
    tenant_id String,
    feature String,
    day Date,
    users AggregateFunction(uniqExact, String),
    uses AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, feature, day)
TTL day + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS feature_usage_daily_mv TO feature_usage_daily AS
SELECT tenant_id, feature, toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day,
       uniqExactState(user_id) AS users, uniqExactState(event_id) AS uses
FROM feature_use_queue
WHERE length(_error) = 0
GROUP BY tenant_id, feature, day;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_users_from_features_mv TO activity_users_daily AS
SELECT tenant_id, toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day, uniqExactState(user_id) AS users
FROM feature_use_queue
WHERE length(_error) = 0
GROUP BY tenant_id, day;
