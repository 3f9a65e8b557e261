-- Successful logins (activity.auth.attempt) count as activity of the day.
{{source auth_attempt_queue activity.auth.attempt}};

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_users_from_logins_mv TO activity_users_daily AS
SELECT tenant_id, toDate(fromUnixTimestamp64Milli(event_time, 'UTC')) AS day, uniqExactState(user_id) AS users
FROM auth_attempt_queue
WHERE length(_error) = 0 AND success
GROUP BY tenant_id, day;
