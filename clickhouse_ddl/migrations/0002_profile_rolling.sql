-- Latest rolling metrics per profile (metrics.profile.rolling); the row with the highest version wins, read with FINAL.
{{source profile_rolling_queue metrics.profile.rolling}};

CREATE TABLE IF NOT EXISTS profile_rolling
(
    {{columns metrics.profile.rolling}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY profile_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_rolling_mv TO profile_rolling AS
SELECT
    {{select metrics.profile.rolling}}
FROM profile_rolling_queue
WHERE length(_error) = 0;
