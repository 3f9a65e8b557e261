-- Rows a source could not parse, with the raw message and the reason. Every source's error view writes here
-- (server: the Kafka engine in kafka_handle_error_mode='stream'; embedded: the bridge fills _error).
CREATE TABLE IF NOT EXISTS ingest_errors
(
    topic LowCardinality(String),
    partition UInt64,
    offset UInt64,
    raw_message String,
    error String,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (topic, partition, offset)
TTL toDateTime(inserted_at) + INTERVAL 30 DAY;
