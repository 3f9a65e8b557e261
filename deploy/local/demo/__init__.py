"""``make demo``: the main job end to end on the embedded warehouse.

Starts what is missing (PostgreSQL, Kafka, Connect + Debezium, the warehouse, the Faust worker, the ingest API,
the loader), applies migrations, registers the CDC connector, then plays a realistic creator workload: profiles,
posts and scrape requests written to PostgreSQL, and profile/post snapshots and scrape status events posted
over the ingest API; then the hiring (PostgreSQL) and user-activity (ingest API) workloads. It waits until every
stage has caught up, measures freshness with probe commits (PostgreSQL commit → ClickHouse row → serving table),
and prints a summary with the top-10 leaderboard read from the PostgreSQL serving table. Entity ids continue
after the largest existing one, so runs accumulate.

Modules: ``common`` (sizes, topic names, helpers), ``workload`` (creators), ``domains`` (hiring, user
activity), ``probes`` (catch-up waits, freshness probes), ``counts`` (what each stage holds, what the summary
reads back), ``summary`` (printing), ``orchestrate`` (``run``).
"""

from deploy.local.demo.common import DemoSize
from deploy.local.demo.orchestrate import run
from deploy.local.demo.summary import Summary

__all__ = ["DemoSize", "Summary", "run"]
