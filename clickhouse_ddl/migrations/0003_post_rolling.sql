-- Latest engagement per post (metrics.post.rolling); the row with the highest version wins, read with FINAL.
{{source post_rolling_queue metrics.post.rolling}};

CREATE TABLE IF NOT EXISTS post_rolling
(
    {{columns metrics.post.rolling}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY post_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS post_rolling_mv TO post_rolling AS
SELECT
    {{select metrics.post.rolling}}
FROM post_rolling_queue
WHERE length(_error) = 0;
