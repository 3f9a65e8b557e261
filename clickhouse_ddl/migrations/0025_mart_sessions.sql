-- Mart: one row per session. A session without an end event times out 30 minutes (event time) after its
-- last event, measured on its tenant's clock (the newest session event of the tenant), so a replay gives the
-- same answer; its duration then runs to its last event.
CREATE OR REPLACE VIEW sessions AS
SELECT
    session_id, tenant_id, user_id, started_at, last_seen_at, ended_at,
    multiIf(ended_at IS NOT NULL, 'ended',
            dateDiff('millisecond', last_seen_at, max(last_seen_at) OVER (PARTITION BY tenant_id)) >= 1800000,
            'timed_out', 'open') AS status,
    dateDiff('millisecond', started_at, coalesce(ended_at, last_seen_at)) / 1000 AS duration_s
FROM
(
    SELECT session_id, any(tenant_id) AS tenant_id, any(user_id) AS user_id, min(started_at) AS started_at,
           max(last_seen_at) AS last_seen_at, min(ended_at) AS ended_at
    FROM session_agg
    GROUP BY session_id
);
