-- Mart: per company, outcomes, response and ghosting rates, interviews per process and the average days
-- spent in each stage (over the processes that have left it).
CREATE OR REPLACE VIEW interview_analytics AS
SELECT
    ifNull(company_id, '') AS company_id,
    any(company_name) AS company_name,
    count() AS processes,
    countIf(active) AS active,
    countIf(status = 'offer') AS offers,
    countIf(status = 'rejected') AS rejections,
    countIf(status = 'withdrawn') AS withdrawals,
    countIf(status = 'ghosted') AS ghosted,
    countIf(first_response_at IS NOT NULL) * 100 / count() AS response_rate,
    countIf(status = 'ghosted') * 100 / count() AS ghosting_rate,
    avg(interviews) AS interviews_per_process,
    avg(applied_days) AS avg_applied_days,
    avg(screening_days) AS avg_screening_days,
    avg(interviewing_days) AS avg_interviewing_days,
    avg(final_round_days) AS avg_final_round_days
FROM hiring_processes
GROUP BY company_id;
