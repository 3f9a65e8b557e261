-- Latest scrape status per post (status.scrape.post); the row with the highest version wins, read with FINAL.
{{source scrape_post_status_queue status.scrape.post}};

CREATE TABLE IF NOT EXISTS scrape_post_status
(
    {{columns status.scrape.post}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY post_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS scrape_post_status_mv TO scrape_post_status AS
SELECT
    {{select status.scrape.post}}
FROM scrape_post_status_queue
WHERE length(_error) = 0;
