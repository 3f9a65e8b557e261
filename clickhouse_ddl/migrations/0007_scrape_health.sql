-- Scrape requests per flow and status in 1-minute and 1-hour windows (social.scrape.status), counted as
-- distinct request ids so that redelivered or repeated status events are not counted twice.
{{source scrape_status_queue social.scrape.status}};

CREATE TABLE IF NOT EXISTS scrape_health_1m
(
    flow LowCardinality(String),
    status LowCardinality(String),
    window_start DateTime('UTC'),
    requests AggregateFunction(uniqExact, String),
    events AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
ORDER BY (flow, status, window_start)
TTL window_start + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS scrape_health_1m_mv TO scrape_health_1m AS
SELECT
    flow,
    status,
    toStartOfMinute(fromUnixTimestamp64Milli(event_time, 'UTC')) AS window_start,
    uniqExactState(request_id) AS requests,
    uniqExactState(event_id) AS events
FROM scrape_status_queue
WHERE length(_error) = 0
GROUP BY flow, status, window_start;

CREATE TABLE IF NOT EXISTS scrape_health_1h
(
    flow LowCardinality(String),
    status LowCardinality(String),
    window_start DateTime('UTC'),
    requests AggregateFunction(uniqExact, String),
    events AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
ORDER BY (flow, status, window_start)
TTL window_start + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS scrape_health_1h_mv TO scrape_health_1h AS
SELECT
    flow,
    status,
    toStartOfHour(fromUnixTimestamp64Milli(event_time, 'UTC')) AS window_start,
    uniqExactState(request_id) AS requests,
    uniqExactState(event_id) AS events
FROM scrape_status_queue
WHERE length(_error) = 0
GROUP BY flow, status, window_start;
