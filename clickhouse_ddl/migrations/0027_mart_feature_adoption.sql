-- Mart: per tenant and feature over the last 30 days of data, users, uses and adoption (share of the
-- tenant's monthly active users).
CREATE OR REPLACE VIEW feature_adoption AS
WITH (SELECT max(day) FROM activity_users_daily) AS last_day
SELECT f.tenant_id AS tenant_id, f.feature AS feature, f.users AS users_30d, f.uses AS uses_30d,
       if(m.mau = 0, NULL, f.users * 100 / m.mau) AS adoption_pct
FROM
(
    SELECT tenant_id, feature, uniqExactMerge(users) AS users, uniqExactMerge(uses) AS uses
    FROM feature_usage_daily
    WHERE day > last_day - 30 AND day <= last_day
    GROUP BY tenant_id, feature
) AS f
LEFT JOIN
(
    SELECT tenant_id, uniqExactMerge(users) AS mau
    FROM activity_users_daily
    WHERE day > last_day - 30 AND day <= last_day
    GROUP BY tenant_id
) AS m ON m.tenant_id = f.tenant_id;
