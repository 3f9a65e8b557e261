"""``run``: start what is missing, play the workloads, wait for the pipeline, probe, count, print, and stop
what the demo started (unless asked to keep it running)."""

from __future__ import annotations

import time

from rich.console import Console

from deploy.local.demo.common import DemoSize, cdc_topics
from deploy.local.demo.counts import counts, domain_rows, top10
from deploy.local.demo.discovery import print_discovery
from deploy.local.demo.domains import play_domains
from deploy.local.demo.probes import freshness_probes, wait_for_pipeline
from deploy.local.demo.summary import Summary, print_domains, print_summary
from deploy.local.demo.workload import play_workload
from deploy.local.pipeline import Pipeline
from deploy.local.settings import StackSettings
from schemas.kafka import end_offsets


def run(keep_running: bool, size: DemoSize, console: Console) -> Summary:
    from connectors.connect_client import ConnectClient
    from connectors.debezium import ConnectorSettings, apply, connector_config
    from connectors.ingest.settings import IngestSettings
    from connectors.ingest.tokens import TokenStore
    from deploy.local.pipeline import COMPONENTS
    from deploy.local.stack import down as stack_down
    from deploy.local.stack import up as stack_up
    from schemas.clickhouse import connect
    from schemas.oltp_migrate import migrate
    from schemas.roles import APP, OWNER
    from serving_loader.settings import LoaderSettings

    t0 = time.monotonic()
    stack = StackSettings()
    schema = LoaderSettings().schema_name
    summary = Summary(schema=schema)
    pipeline = Pipeline(stack.state_dir / "run")
    started_services: list[str] = []
    started_components: list[str] = []
    token_name = ""
    try:
        console.rule("services")
        started_services = stack_up(stack, on_event=lambda m: console.print(f"  {m}"))
        dsn = stack.dsn(role=OWNER)  # the OLTP database's owner: migrations, the publication, the app's writes
        app_dsn = stack.dsn(role=APP)  # the app's reads of the serving tables
        migrate(dsn)
        cfg = ConnectorSettings()
        with ConnectClient(stack.connect_rest, stack.connect_auth()) as client:
            apply(client, cfg, dsn, connector_config(cfg))
        console.print(f"  OLTP schema migrated; connector {cfg.name} RUNNING")
        token_name = f"demo-{int(time.time())}"
        # a day at most, and revoked when the demo ends (below)
        token = TokenStore(IngestSettings().tokens_file).create(token_name, ["*"], expires_in_s=86_400)
        started_components = [c for c in COMPONENTS if pipeline.process(c).running() is None]
        pipeline.up(tuple(started_components), on_event=lambda m: console.print(f"  {m}"))
        summary.seconds["start"] = time.monotonic() - t0

        console.rule("workload")
        t1 = time.monotonic()
        cdc_before = end_offsets(stack.bootstrap, cdc_topics(stack))
        played = play_workload(dsn, pipeline.ingest_url, token, size, console)
        played.update(play_domains(dsn, pipeline.ingest_url, token, size, console))
        summary.seconds["workload"] = time.monotonic() - t1

        console.rule("pipeline")
        t2 = time.monotonic()
        cdc_rows = played["postgres_rows"] + played["hiring_rows"]
        wait_for_pipeline(stack, cdc_before, cdc_rows, app_dsn, schema, console)
        summary.seconds["catch-up after the last event"] = time.monotonic() - t2
        ch = connect(stack)
        try:
            summary.to_clickhouse_ms, summary.to_serving_ms = freshness_probes(
                dsn, app_dsn, ch, schema, size.probes, console
            )
            summary.counts = {"postgres rows written (this run)": cdc_rows,
                              "ingest API events accepted (this run)": played["api_events"] + played["activity_events"],
                              **counts(stack, ch, app_dsn, schema)}  # fmt: skip
        finally:
            ch.close()
        summary.top10 = top10(app_dsn, dsn, schema)
        summary.domains = domain_rows(app_dsn, schema)
        summary.seconds["total"] = time.monotonic() - t0
        print_summary(summary, console)
        print_discovery(app_dsn, schema, console)
        print_domains(summary.domains, schema, console)
        return summary
    finally:
        if token_name and not keep_running:
            TokenStore(IngestSettings().tokens_file).revoke(token_name)
        if not keep_running:
            pipeline.down(tuple(started_components))
            stack_down(stack, only=started_services)
            console.print(f"stopped what the demo started: {', '.join(started_components + started_services) or '-'}")
        else:
            console.print("left running (stop with `make down`)")
