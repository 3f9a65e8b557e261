"""Prometheus metrics of the stream processors."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("stir_streams_events_in_total", "Rows read by an agent", ["agent", "topic"])
EVENTS_OUT = Counter("stir_streams_events_out_total", "Rows written by an agent", ["agent", "topic"])
DLQ = Counter("stir_streams_dlq_total", "Rows sent to dlq.streams", ["agent"])
DUPLICATES = Counter("stir_streams_duplicates_total", "Rows skipped as already applied", ["agent"])
LATE = Counter("stir_streams_late_dropped_total", "Rows beyond the allowed lateness (sent to dlq.late)", ["agent"])
LATENCY = Histogram(
    "stir_streams_processing_latency_seconds",
    "Per input message with output: the event time of its stalest output row to the emit",
    ["agent"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
TABLE_KEYS = Gauge("stir_streams_table_keys", "Keys held in an agent's table", ["table"])
LAG = Gauge("stir_streams_consumer_lag",
            "Messages between the consumer's position and the high-water mark, per input partition this worker holds",
            ["topic", "partition"])  # fmt: skip
REFRESH_REQUESTS = Counter("stir_streams_refresh_requests_total", "Refresh requests emitted for stale posts")
STATE_RECOVERED = Counter("stir_streams_state_recovered_total",
                          "Changelog records the table recovery applied to the disk store (since the checkpoint)",
                          ["table"])  # fmt: skip


def set_lag(lags: dict[tuple[str, int], int | None], inputs: set[str]) -> None:
    """The lag gauge: the input partitions this worker holds now (``lags``: all it holds; None where the lag is not
    known at the moment, e.g. just assigned, which keeps its last value), and nothing else. Changelog partitions are
    left out (after recovery faust stops reading them, so their "lag" would grow with every table write), and
    partitions the worker no longer holds are removed (a rebalance would leave their last value behind for good)."""
    held = {(topic, str(partition)) for topic, partition in lags if topic in inputs}
    for labels in [tuple(s.labels.values()) for metric in LAG.collect() for s in metric.samples]:
        if labels not in held:
            LAG.remove(*labels)
    for (topic, partition), lag in lags.items():
        if topic in inputs and lag is not None:
            LAG.labels(topic, str(partition)).set(max(lag, 0))
