-- Latest aggregates per collection (metrics.collection.rolling); the row with the highest version wins, read with FINAL.
{{source collection_rolling_queue metrics.collection.rolling}};

CREATE TABLE IF NOT EXISTS collection_rolling
(
    {{columns metrics.collection.rolling}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY collection_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS collection_rolling_mv TO collection_rolling AS
SELECT
    {{select metrics.collection.rolling}}
FROM collection_rolling_queue
WHERE length(_error) = 0;
