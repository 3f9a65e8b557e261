-- Latest image per job position (dim.hiring.position); the row with the highest version wins, read with FINAL.
{{source hiring_position_queue dim.hiring.position}};

CREATE TABLE IF NOT EXISTS hiring_position
(
    {{columns dim.hiring.position}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY position_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS hiring_position_mv TO hiring_position AS
SELECT
    {{select dim.hiring.position}}
FROM hiring_position_queue
WHERE length(_error) = 0;
