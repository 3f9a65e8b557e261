-- API calls (activity.api.call), one row per event id (a redelivered call replaces itself); latency
-- percentiles are exact over these rows.
{{source api_call_queue activity.api.call}};

CREATE TABLE IF NOT EXISTS api_calls
(
    {{columns activity.api.call}}
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (endpoint, event_id)
TTL toDateTime(event_time) + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS api_calls_mv TO api_calls AS
SELECT
    {{select activity.api.call}}
FROM api_call_queue
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_users_from_api_mv TO activity_users_daily AS
SELECT tenant_id, toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day,
       uniqExactState(assumeNotNull(user_id)) AS users
FROM api_call_queue
WHERE length(_error) = 0 AND user_id IS NOT NULL
GROUP BY tenant_id, day;
