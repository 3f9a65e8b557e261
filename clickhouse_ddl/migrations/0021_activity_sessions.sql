-- Sessions (activity.session.event): first and last event time, and the first end event, per session.
{{source session_event_queue activity.session.event}};

CREATE TABLE IF NOT EXISTS session_agg
(
    session_id String,
    tenant_id SimpleAggregateFunction(any, String),
    user_id SimpleAggregateFunction(any, String),
    started_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    ended_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    events AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
ORDER BY session_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_agg_mv TO session_agg AS
SELECT
    session_id,
    any(tenant_id) AS tenant_id,
    any(user_id) AS user_id,
    min(fromUnixTimestamp64Milli(event_time, 'UTC')) AS started_at,
    max(fromUnixTimestamp64Milli(event_time, 'UTC')) AS last_seen_at,
    minIfOrNull(fromUnixTimestamp64Milli(event_time, 'UTC'), kind = 'end') AS ended_at,
    uniqExactState(event_id) AS events
FROM session_event_queue
WHERE length(_error) = 0
GROUP BY session_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_users_from_sessions_mv TO activity_users_daily AS
SELECT tenant_id, toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day, uniqExactState(user_id) AS users
FROM session_event_queue
WHERE length(_error) = 0
GROUP BY tenant_id, day;
