-- Latest status per application process (status.hiring.process); the row with the highest version wins, read with FINAL.
{{source hiring_process_queue status.hiring.process}};

CREATE TABLE IF NOT EXISTS hiring_process
(
    {{columns status.hiring.process}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY process_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS hiring_process_mv TO hiring_process AS
SELECT
    {{select status.hiring.process}}
FROM hiring_process_queue
WHERE length(_error) = 0;
