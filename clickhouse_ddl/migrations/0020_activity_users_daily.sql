-- Distinct active users per tenant and day, fed by every activity source (sessions, feature uses, API calls
-- with a user, successful logins); uniqExact states, so redelivered events change nothing.
CREATE TABLE IF NOT EXISTS activity_users_daily
(
    tenant_id String,
    day Date,
    users AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, day)
TTL day + INTERVAL 400 DAY;
