-- Latest image per company (dim.hiring.company); the row with the highest version wins, read with FINAL.
{{source hiring_company_queue dim.hiring.company}};

CREATE TABLE IF NOT EXISTS hiring_company
(
    {{columns dim.hiring.company}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY company_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS hiring_company_mv TO hiring_company AS
SELECT
    {{select dim.hiring.company}}
FROM hiring_company_queue
WHERE length(_error) = 0;
