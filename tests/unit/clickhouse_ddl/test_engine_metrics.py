"""The Kafka engine's Prometheus figures from system.kafka_consumers rows (two consumers of one source)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from clickhouse_ddl.engine_metrics import KafkaEngineCollector


class Fixed(KafkaEngineCollector):
    def _ends(self, tps):  # the broker's end offsets
        return {(tp.topic, tp.partition): 100 + tp.partition for tp in tps}


def test_figures_per_source_and_lag_per_partition():
    rows = [
        ["post_rolling_queue", ["t", "t"], [0, 1], [90, None], 150, 3, 1, 0, 1_800_000_000, 1_800_000_001, 0],
        ["post_rolling_queue", ["t"], [2], [102], 50, 2, 1, 2, 1_800_000_005, 0, 1_800_000_003],
    ]
    events = [[9000]]
    seen = []

    def query(sql: str):
        seen.append(sql)
        return events if "system.events" in sql else rows

    registry = CollectorRegistry()
    registry.register(Fixed(query, "marts'x", "b:9"))
    text = generate_latest(registry).decode()
    assert "database = 'marts\\'x'" in seen[0]
    assert 'stir_ch_kafka_assigned_partitions{table="post_rolling_queue"} 3.0' in text
    assert 'stir_ch_kafka_messages_read_total{table="post_rolling_queue"} 200.0' in text
    assert 'stir_ch_kafka_commits_total{table="post_rolling_queue"} 5.0' in text
    assert 'stir_ch_kafka_exceptions{table="post_rolling_queue"} 2.0' in text
    assert 'stir_ch_kafka_last_poll_timestamp_seconds{table="post_rolling_queue"} 1.800000005e+09' in text
    assert 'stir_ch_kafka_last_commit_timestamp_seconds{table="post_rolling_queue"} 1.800000001e+09' in text
    assert 'stir_ch_kafka_last_exception_timestamp_seconds{table="post_rolling_queue"} 1.800000003e+09' in text
    assert "stir_ch_kafka_rows_total 9000.0" in text
    assert 'stir_ch_kafka_lag_messages{partition="0",table="post_rolling_queue",topic="t"} 10.0' in text
    assert 'partition="1"' not in text  # no position yet: no lag figure rather than a wrong one
    assert 'stir_ch_kafka_lag_messages{partition="2",table="post_rolling_queue",topic="t"} 0.0' in text


def test_a_failing_query_gives_no_figures_and_no_error():
    def query(sql: str):
        raise RuntimeError("shutting down")

    registry = CollectorRegistry()
    registry.register(Fixed(query, "marts", "b:9"))
    assert "stir_ch_kafka_assigned_partitions{" not in generate_latest(registry).decode()
