-- Mart: scrape requests per flow and status in 1-minute and 1-hour windows, and the posts that are stale
-- or persistently failing right now.
CREATE OR REPLACE VIEW scrape_health AS
SELECT '1m' AS granularity, flow, status, window_start, uniqExactMerge(requests) AS requests,
       uniqExactMerge(events) AS events
FROM scrape_health_1m
GROUP BY flow, status, window_start
UNION ALL
SELECT '1h' AS granularity, flow, status, window_start, uniqExactMerge(requests) AS requests,
       uniqExactMerge(events) AS events
FROM scrape_health_1h
GROUP BY flow, status, window_start;

CREATE OR REPLACE VIEW scrape_post_summary AS
SELECT post_id, last_status, last_attempt_at, last_success_at, failed_30d, complete_30d,
       persistently_failing, stale, version
FROM scrape_post_status FINAL;
