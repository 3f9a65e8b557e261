"""Prometheus metrics of chdb's Kafka engine, read from ``system.kafka_consumers`` at each scrape.

Per source table (``table``): partitions assigned, messages read, commits, rebalances, the exceptions the engine
keeps (its last few) and the time of the latest, the last poll and commit times; per partition the consumer's lag
(the broker's end offset less the consumer's current offset, end offsets read at the scrape); for all sources
together the rows read (a message that does not parse counts as one row, the one ``ingest_errors`` gets). The
counters are the consumers' own: they restart from zero with the process (each start makes the consumers again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("stir.warehouse.metrics")

QUERY = """
SELECT table, assignments.topic, assignments.partition_id, assignments.current_offset, num_messages_read,
       num_commits, num_rebalance_assignments + num_rebalance_revocations, length(exceptions.text),
       toUnixTimestamp(last_poll_time), toUnixTimestamp(last_commit_time),
       if(empty(exceptions.time), 0, toUnixTimestamp(arrayMax(exceptions.time)))
FROM system.kafka_consumers WHERE database = {db}
"""
# rows, not messages (a message holds many JSONEachRow lines): the process's ProfileEvents, every source together
ROWS_QUERY = "SELECT value FROM system.events WHERE name = 'KafkaRowsRead'"


def _seconds(value: Any) -> float | None:
    v = float(value or 0)
    return v if v > 0 else None


class KafkaEngineCollector(Collector):
    """``rows(sql)`` runs a query on the warehouse's session; ``bootstrap`` is the broker the engine reads."""

    def __init__(self, rows: Callable[[str], list[list[Any]]], database: str, bootstrap: str) -> None:
        self.rows, self.database, self.bootstrap = rows, database, bootstrap
        self._consumer: Consumer | None = None

    def _ends(self, tps: list[TopicPartition]) -> dict[tuple[str, int], int]:
        if self._consumer is None:
            self._consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "stir-warehouse-metrics",
                                       "enable.auto.commit": False})  # fmt: skip
        out = {}
        for tp in tps:
            _, high = self._consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            out[(tp.topic, tp.partition)] = high
        return out

    def collect(self) -> Iterator[Any]:
        assigned = GaugeMetricFamily("stir_ch_kafka_assigned_partitions", "Partitions assigned to the source's "
                                     "Kafka engine consumers", labels=["table"])  # fmt: skip
        read = CounterMetricFamily("stir_ch_kafka_messages_read", "Messages the source's consumers read",
                                   labels=["table"])  # fmt: skip
        commits = CounterMetricFamily("stir_ch_kafka_commits", "Offset commits of the source's consumers",
                                      labels=["table"])  # fmt: skip
        rebalances = CounterMetricFamily("stir_ch_kafka_rebalances", "Assignments and revocations of the source's "
                                         "consumers", labels=["table"])  # fmt: skip
        exceptions = GaugeMetricFamily("stir_ch_kafka_exceptions", "Exceptions the engine keeps for the source's "
                                       "consumers (the last ones)", labels=["table"])  # fmt: skip
        poll = GaugeMetricFamily("stir_ch_kafka_last_poll_timestamp_seconds", "When the source's consumers last "
                                 "polled", labels=["table"])  # fmt: skip
        commit = GaugeMetricFamily("stir_ch_kafka_last_commit_timestamp_seconds", "When the source's consumers "
                                   "last committed", labels=["table"])  # fmt: skip
        last_exc = GaugeMetricFamily("stir_ch_kafka_last_exception_timestamp_seconds", "When the source's "
                                     "consumers last hit an exception", labels=["table"])  # fmt: skip
        rows_read = CounterMetricFamily("stir_ch_kafka_rows", "Rows the Kafka engine read (every source; a "
                                        "message that does not parse counts as one)")  # fmt: skip
        lag = GaugeMetricFamily("stir_ch_kafka_lag_messages", "Messages the engine has not read yet",
                                labels=["table", "topic", "partition"])  # fmt: skip
        db = "'" + self.database.replace("\\", "\\\\").replace("'", "\\'") + "'"
        try:
            data = self.rows(QUERY.format(db=db))
            rows_read.add_metric([], sum(float(r[0]) for r in self.rows(ROWS_QUERY)))
        except Exception as exc:  # a scrape during start-up or shutdown: no engine figures this time
            log.debug("system.kafka_consumers: %s", exc)
            data = []
        per_table: dict[str, list[float]] = {}
        offsets: list[tuple[str, str, int, int]] = []
        for table, topics, parts, current, n_read, n_commits, n_rebalances, n_exc, t_poll, t_commit, t_exc in data:
            acc = per_table.setdefault(table, [0, 0, 0, 0, 0, 0, 0, 0])
            acc[0] += len(parts)
            acc[1] += n_read
            acc[2] += n_commits
            acc[3] += n_rebalances
            acc[4] += n_exc
            acc[5] = max(acc[5], _seconds(t_poll) or 0)
            acc[6] = max(acc[6], _seconds(t_commit) or 0)
            acc[7] = max(acc[7], _seconds(t_exc) or 0)
            offsets += [(table, t, int(p), int(o)) for t, p, o in zip(topics, parts, current, strict=True)
                        if o is not None and int(o) >= 0]  # fmt: skip
        for table, (n_parts, n_read, n_commits, n_rebalances, n_exc, t_poll, t_commit, t_exc) in per_table.items():
            assigned.add_metric([table], n_parts)
            read.add_metric([table], n_read)
            commits.add_metric([table], n_commits)
            rebalances.add_metric([table], n_rebalances)
            exceptions.add_metric([table], n_exc)
            if t_poll:
                poll.add_metric([table], t_poll)
            if t_commit:
                commit.add_metric([table], t_commit)
            if t_exc:
                last_exc.add_metric([table], t_exc)
        if offsets:
            try:
                ends = self._ends([TopicPartition(t, p) for _, t, p, _ in offsets])
                for table, t, p, o in offsets:
                    if ends.get((t, p), -1) >= 0:
                        lag.add_metric([table, t, str(p)], max(ends[(t, p)] - o, 0))
            except Exception as exc:  # the broker away: no lag figures this time
                log.debug("end offsets: %s", exc)
        yield from (assigned, read, commits, rebalances, exceptions, poll, commit, last_exc, rows_read, lag)
