-- Mart: the applications still in progress, each with its next action. A second active process for the same
-- position (the later application) is flagged.
CREATE OR REPLACE VIEW active_applications AS
SELECT
    process_id, position_id, company_id, company_name, position_title, candidate_name, status,
    multiIf(status = 'final_round', final_round_at, status = 'interviewing', interviewing_at,
            status = 'screening', screening_at, applied_at) AS stage_entered_at,
    applied_at, last_activity_at, interviews, interviews_completed, next_interview_at,
    multiIf(next_interview_at IS NOT NULL, 'attend interview', status = 'applied', 'wait for screening',
            interviews_completed < interviews, 'attend interview', 'wait for feedback') AS next_action,
    row_number() OVER (PARTITION BY position_id ORDER BY applied_at, process_id) > 1 AS duplicate_active,
    version
FROM hiring_processes
WHERE active;
