-- Mart base: every live process with its position and company (latest images), and how long it spent in
-- each stage it has left (days; null while it is still in the stage).
CREATE OR REPLACE VIEW hiring_processes AS
SELECT
    p.process_id AS process_id,
    p.position_id AS position_id,
    pos.company_id AS company_id,
    c.name AS company_name,
    pos.title AS position_title,
    p.candidate_name AS candidate_name,
    p.status AS status,
    p.status IN ('applied', 'screening', 'interviewing', 'final_round') AS active,
    p.applied_at AS applied_at,
    p.screening_at AS screening_at,
    p.interviewing_at AS interviewing_at,
    p.final_round_at AS final_round_at,
    p.closed_at AS closed_at,
    p.ghosted_at AS ghosted_at,
    p.last_activity_at AS last_activity_at,
    p.interviews AS interviews,
    p.interviews_completed AS interviews_completed,
    p.next_interview_at AS next_interview_at,
    p.first_response_at AS first_response_at,
    dateDiff('millisecond', p.applied_at,
             coalesce(p.screening_at, p.interviewing_at, p.final_round_at, p.closed_at, p.ghosted_at)) / 86400000 AS applied_days,
    if(p.screening_at IS NULL, NULL, dateDiff('millisecond', p.screening_at,
             coalesce(p.interviewing_at, p.final_round_at, p.closed_at, p.ghosted_at)) / 86400000) AS screening_days,
    if(p.interviewing_at IS NULL, NULL, dateDiff('millisecond', p.interviewing_at,
             coalesce(p.final_round_at, p.closed_at, p.ghosted_at)) / 86400000) AS interviewing_days,
    if(p.final_round_at IS NULL, NULL, dateDiff('millisecond', p.final_round_at,
             coalesce(p.closed_at, p.ghosted_at)) / 86400000) AS final_round_days,
    p.version AS version
FROM (SELECT * FROM hiring_process FINAL WHERE NOT deleted) AS p
LEFT JOIN (SELECT * FROM hiring_position FINAL WHERE NOT deleted) AS pos ON pos.position_id = p.position_id
LEFT JOIN (SELECT * FROM hiring_company FINAL WHERE NOT deleted) AS c ON c.company_id = pos.company_id
SETTINGS join_use_nulls = 1;
