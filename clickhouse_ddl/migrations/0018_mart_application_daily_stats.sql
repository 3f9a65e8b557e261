-- Mart: the daily applications series per company: applications by the day they were made, decisions and
-- ghostings by the day they happened.
CREATE OR REPLACE VIEW application_daily_stats AS
SELECT day, company_id, sum(applied) AS applications, sum(offer) AS offers, sum(rejected) AS rejections,
       sum(withdrawn) AS withdrawals, sum(ghost) AS ghosted
FROM
(
    SELECT toDate(applied_at) AS day, ifNull(company_id, '') AS company_id, 1 AS applied, 0 AS offer, 0 AS rejected,
           0 AS withdrawn, 0 AS ghost
    FROM hiring_processes
    UNION ALL
    SELECT toDate(assumeNotNull(closed_at)), ifNull(company_id, ''), 0, status = 'offer', status = 'rejected',
           status = 'withdrawn', 0
    FROM hiring_processes
    WHERE closed_at IS NOT NULL
    UNION ALL
    SELECT toDate(assumeNotNull(ghosted_at)), ifNull(company_id, ''), 0, 0, 0, 0, 1
    FROM hiring_processes
    WHERE ghosted_at IS NOT NULL
)
GROUP BY day, company_id;
