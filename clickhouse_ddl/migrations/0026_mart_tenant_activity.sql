-- Mart: per tenant and day, daily, weekly (7 days) and monthly (30 days) active users, and the sessions
-- started that day (count, closed ones' average duration).
CREATE OR REPLACE VIEW tenant_activity_daily AS
SELECT
    u.tenant_id AS tenant_id,
    u.d AS day,
    u.dau AS dau,
    u.wau AS wau,
    u.mau AS mau,
    ifNull(s.sessions, 0) AS sessions,
    s.avg_session_s AS avg_session_s
FROM
(
    SELECT tenant_id, day + k AS d, uniqExactMergeIf(users, k = 0) AS dau, uniqExactMergeIf(users, k < 7) AS wau,
           uniqExactMerge(users) AS mau
    FROM activity_users_daily
    ARRAY JOIN range(30) AS k
    WHERE day + k <= (SELECT max(day) FROM activity_users_daily)
    GROUP BY tenant_id, d
) AS u
LEFT JOIN
(
    SELECT tenant_id, toDate(started_at) AS day, count() AS sessions, avgIfOrNull(duration_s, status != 'open') AS avg_session_s
    FROM sessions
    GROUP BY tenant_id, day
) AS s ON s.tenant_id = u.tenant_id AND s.day = u.d
SETTINGS join_use_nulls = 1;
