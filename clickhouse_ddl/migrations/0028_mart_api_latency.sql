-- Mart: per endpoint and hour, calls, exact latency percentiles (PERCENTILE.INC) and error rates (5xx:
-- errors, 4xx: client errors).
CREATE OR REPLACE VIEW api_latency_hourly AS
SELECT
    endpoint,
    toStartOfHour(event_time) AS hour,
    count() AS calls,
    quantileExactInclusive(0.5)(latency_ms) AS p50_ms,
    quantileExactInclusive(0.95)(latency_ms) AS p95_ms,
    quantileExactInclusive(0.99)(latency_ms) AS p99_ms,
    countIf(status_code >= 500) / count() AS error_rate,
    countIf(status_code >= 400 AND status_code < 500) / count() AS client_error_rate
FROM api_calls FINAL
GROUP BY endpoint, hour;
