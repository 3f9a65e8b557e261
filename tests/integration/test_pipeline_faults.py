"""Fault injection across the whole pipeline, during a steady workload: hiring rows committed to PostgreSQL one
by one (Debezium) and activity events posted to the ingest API, while in turn the Faust worker, the warehouse
(its Kafka engine), Kafka Connect and the loader are SIGKILLed and restarted, the Kafka broker is restarted, and
the worker's Faust process alone is SIGKILLed (its supervisor, `stir streams worker`, starts a new one). After
recovery the serving tables and the warehouse equal the independent oracle over the raw topics (nothing lost,
nothing double counted), the replication slot is still there and its lag drains, and no reader ever saw a
partial serving table."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import psycopg
import pytest

from connectors.connect_client import ConnectClient
from connectors.debezium import apply, connector_config, drop
from connectors.ingest_client import IngestClient
from deploy.local.pipeline import COMPONENTS, Pipeline
from deploy.local.process import wait_until
from deploy.local.services import Connect, Kafka, broker_ready
from deploy.local.stack import up
from schemas.kafka import end_offsets
from schemas.oltp_migrate import migrate
from streams import membership
from streams.settings import StreamsSettings
from tests.support import domains_oracle as oracle
from tests.support import domains_serving_oracle as so
from tests.support.domains_workload import generate
from tests.support.harness import (
    ACTIVITY_TOPICS,
    HIRING_TABLES,
    assert_statuses,
    caught_up,
    cdc_connector,
    domain_topics,
    ingest_token,
    pipeline_env,
    read_raw,
    realize_hiring,
    serving,
    serving_schema,
)
from tests.support.kafka import delete_topics
from tests.support.workload import HOUR

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _slot(dsn: str, slot: str) -> tuple[bool, int] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                           "FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()  # fmt: skip
    return (bool(row[0]), int(row[1])) if row else None


class Reader(threading.Thread):
    """Reads the serving table's row count over and over; every count must be one a refresh produced."""

    def __init__(self, dsn: str, schema: str, table: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.schema, self.table = dsn, schema, table
        self.counts: set[int] = set()
        self.reads = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    while not self.stop.is_set():
                        row = conn.execute(f"SELECT count(*) FROM {self.schema}.{self.table}").fetchone()
                        self.counts.add(int(row[0]) if row else -1)
                        self.reads += 1
                        time.sleep(0.01)
            except psycopg.errors.UndefinedTable:
                time.sleep(0.05)  # before the first swap
            except psycopg.Error as e:
                self.errors.append(str(e))
                time.sleep(0.05)


def test_kill_every_component_in_turn_and_restart_the_broker(stack, fresh_db, uid, tmp_path):
    migrate(fresh_db)
    prefix = f"flt{uid}."
    schema = serving_schema(prefix)
    w = generate(processes=100, users=50, seed=53, end_ms=int(time.time() * 1000) - HOUR, shared_positions=False)
    cfg = cdc_connector(prefix, uid)
    env = pipeline_env(prefix, tmp_path / "state", fresh_db, STIR_STREAMS_ALLOWED_LATENESS_MS=str(w.lateness_ms))
    token = ingest_token(env)
    pipeline = Pipeline(tmp_path / "run", env)
    client = ConnectClient(stack.connect_rest, stack.connect_auth())
    reader = Reader(fresh_db, schema, "hiring_processes")
    counts: dict[str, int] = {}
    errors: list[BaseException] = []
    faults: list[tuple[str, float]] = []

    finished: dict[str, float] = {}
    streams = pipeline.settings(StreamsSettings)
    data_dir = streams.data_dir / streams.app_id

    def write() -> None:
        try:
            counts.update(realize_hiring(w, fresh_db, pause_s=0.08))
            finished["postgres"] = time.monotonic() - t0
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    def post() -> None:
        try:
            events = w.logins + w.activity
            with IngestClient(pipeline.ingest_url, token, source="flt", batch_size=100, max_retries=120,
                              backoff_s=0.25) as ingest:  # fmt: skip
                pause = 40.0 / (len(events) / 100)  # spread over ~40 s, through every fault
                for i, (topic, _, row) in enumerate(events):
                    ingest.send(topic, {k: v for k, v in row.items() if k not in ("ingested_at", "source")})
                    if i % 100 == 99:
                        time.sleep(pause)
            assert not ingest.stats.rejected, ingest.stats.rejected[:3]
            finished["ingest"] = time.monotonic() - t0
        except BaseException as e:
            errors.append(e)

    def restart_dead() -> None:
        """What a supervisor does after an outage: start the components that exited."""
        for name in COMPONENTS:
            if pipeline.process(name).running() is None:
                pipeline.start(name)

    try:
        apply(client, cfg, fresh_db, connector_config(cfg, dbname=f"t_{uid}"))
        pipeline.up()
        reader.start()
        t0 = time.monotonic()
        threads = [threading.Thread(target=write), threading.Thread(target=post)]
        for t in threads:
            t.start()

        def fault(name: str, action: Any) -> None:
            time.sleep(3)
            action()
            faults.append((name, round(time.monotonic() - t0, 1)))

        fault("worker", lambda: (pipeline.kill("worker"), pipeline.start("worker")))
        fault("warehouse", lambda: (pipeline.kill("warehouse"), pipeline.start("warehouse")))
        fault("loader", lambda: (pipeline.kill("loader"), pipeline.start("loader")))

        def connect_kill() -> None:
            Connect(stack).proc.kill()
            up(stack)
            client.wait_running(cfg.name, 120)

        fault("connect", connect_kill)

        def broker_restart() -> None:
            Kafka(stack).stop()
            up(stack)
            assert wait_until(lambda: broker_ready(stack.bootstrap), 120, 0.5)
            client.wait_running(cfg.name, 120)
            restart_dead()

        fault("kafka broker", broker_restart)

        def faust_process_kill() -> None:
            """The OOM killer's way: only the Faust process dies; `stir streams worker` starts a new one."""
            assert wait_until(pipeline.worker_joined, 120)  # the broker's restart may have restarted it too
            supervisor = pipeline.process("worker").running()
            victim = membership.previous(data_dir)
            assert supervisor is not None and victim is not None and victim["parent"] == supervisor.pid
            os.kill(victim["pid"], signal.SIGKILL)
            rejoined = wait_until(lambda: pipeline.worker_joined() and membership.previous(data_dir) != victim, 120)
            assert rejoined, (pipeline.run_dir / "worker.log").read_text()[-3000:]
            assert pipeline.process("worker").running() == supervisor

        fault("worker's faust process", faust_process_kill)
        for t in threads:
            t.join(600)
        assert not errors, errors
        # the faults hit a running workload: commits and events were still arriving after the loader's kill
        # (Connect's restart, next, takes 20-30 s on this box)
        assert min(finished.values()) > dict(faults)["loader"], (finished, faults)
        restart_dead()
        for table, n in counts.items():
            topic = f"{prefix}cdc.public.{table}"
            assert wait_until(lambda t=topic, n=n: end_offsets(stack.bootstrap, [t]) >= n, 120, 0.5), topic
        caught_up(stack.bootstrap, prefix, fresh_db, run_dir=pipeline.run_dir)
        reader.stop.set()
        reader.join(10)

        raw = read_raw(stack.bootstrap, prefix, [f"cdc.public.{t}" for t in HIRING_TABLES] + list(ACTIVITY_TOPICS))
        hiring_raw = [r for r in raw if r[0].startswith("cdc.")]
        activity_raw = [r for r in raw if not r[0].startswith("cdc.")]
        s = StreamsSettings()
        logins = [r for r in activity_raw if r[0] == "activity.auth.attempt"]
        statuses, security = oracle.expected(hiring_raw, logins, s, w.lateness_ms)
        procs = so.hiring_processes(statuses, hiring_raw)
        # nothing lost: every committed change is in Kafka (Debezium may deliver a few twice) and every process
        distinct = {(r[0], r[2]["source"]["lsn"]) for r in hiring_raw}
        assert len(distinct) == sum(counts.values())
        assert len(procs) == len({k for t, k, r in w.hiring if t.endswith(".processes") and r["op"] == "c"})
        assert_statuses(fresh_db, schema, procs, security)
        tenants = so.tenant_activity(activity_raw)
        got = {(r["tenant_id"], r["day"]): (r["dau"], r["wau"], r["mau"], r["sessions"])
               for r in serving(fresh_db, schema, "tenant_activity")}  # fmt: skip
        assert got == {k: (v["dau"], v["wau"], v["mau"], v["sessions"]) for k, v in tenants.items()}

        # the slot survived and drains (once the loader, which writes WAL in this cluster all the time, is stopped);
        # readers only ever saw whole tables
        pipeline.down(("loader",))
        assert wait_until(lambda: (_slot(fresh_db, cfg.slot_name) or (False, 1 << 40))[1] < 64 * 1024, 60, 0.5)
        assert (_slot(fresh_db, cfg.slot_name) or (False, 0))[0], "the replication slot is not active"
        with psycopg.connect(fresh_db) as conn:
            runs = conn.execute(f"SELECT live_rows FROM {schema}.stir_load_runs "
                                "WHERE spec = 'hiring_processes' AND outcome IN ('swapped', 'upserted')")  # fmt: skip
            swapped = {int(r[0]) for r in runs}
        assert not reader.errors, reader.errors[:3]
        assert reader.reads > 100 and reader.counts <= swapped, (reader.counts - swapped, reader.reads)
        print(
            f"faults at {faults}; workload finished {finished}; slot {_slot(fresh_db, cfg.slot_name)}; "
            f"reads {reader.reads}; "
            f"distinct counts seen {sorted(reader.counts)}"
        )
    finally:
        reader.stop.set()
        pipeline.down()
        drop(client, cfg, fresh_db)
        client.close()
        delete_topics(stack.bootstrap, [prefix + t for t in domain_topics()])
