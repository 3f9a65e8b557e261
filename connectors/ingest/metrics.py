"""Prometheus metrics of the ingest API."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("stir_ingest_events_total", "Events received by the ingest API", ["type", "outcome"])
REJECTIONS = Counter("stir_ingest_rejections_total", "Rejected items by reason code", ["code"])
REQUESTS = Counter("stir_ingest_requests_total", "HTTP requests to /v1/events by status", ["status"])
PRODUCE_SECONDS = Histogram(
    "stir_ingest_produce_seconds",
    "Time from produce() to broker acknowledgement, per Kafka message",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MESSAGE_ROWS = Histogram(
    "stir_ingest_message_rows", "Events per produced Kafka message", buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
)
QUEUE_DEPTH = Gauge("stir_ingest_producer_queue", "Messages waiting in the producer's local queue")
DLQ = Counter("stir_ingest_dlq_total", "Records written to the ingest dead-letter topic")
