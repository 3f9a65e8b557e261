"""`stir topics`: the deployment's declared topics (``schemas/topics.py``), created explicitly with their
partitions and configs (the broker creates none on its own)."""

from __future__ import annotations

import typer
from confluent_kafka import KafkaException
from rich.table import Table

from schemas.console import fail, load_settings, out
from schemas.settings import CoreSettings
from schemas.topics import TOPICS, Topology

app = typer.Typer(help="The declared Kafka topics of this deployment.", no_args_is_help=True)


def _declared(core: CoreSettings) -> tuple[Topology, list[str]]:
    topo = Topology(core)
    # CDC topics are created by Connect (the connector's topic.creation.* settings), the rest here
    return topo, [topo.name(t) for t in TOPICS if t.kind != "cdc"]


@app.command("create")
def create() -> None:
    """Create every declared topic that is missing (partitions: STIR_PARTITIONS; configs from the declarations), and
    set the declared configs on existing topics whose configs drifted from them."""
    from schemas.kafka import align_configs, config_drift, ensure_topics

    core = load_settings(CoreSettings)
    topo, names = _declared(core)
    configs = {n: c for n, c in topo.configs().items() if n in names}
    try:
        ensure_topics(core.bootstrap, names, core.partitions, configs=configs)
        drift = config_drift(core.bootstrap, configs)
        align_configs(core.bootstrap, drift)
    except (RuntimeError, OSError, KafkaException) as e:
        raise fail(str(e)) from None
    for topic, diff in sorted(drift.items()):
        out.print(f"{topic}: " + ", ".join(f"{k} {was or '(unset)'} -> {want}" for k, (was, want) in diff.items()))
    out.print(f"{len(names)} declared topics present with their declared configs (CDC topics: created by the "
              f"connector)")  # fmt: skip


@app.command("list")
def list_cmd() -> None:
    """Each declared topic: present or missing, its partitions and retention, configs that drifted from the
    declarations (exit 1 if any is missing or drifted)."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    core = load_settings(CoreSettings)
    topo, names = _declared(core)
    admin = AdminClient({"bootstrap.servers": core.bootstrap})
    try:
        md = admin.list_topics(timeout=10).topics
    except Exception as e:
        raise fail(f"cannot reach Kafka at {core.bootstrap}: {e}") from None
    present = [n for n in names if n in md]
    retention: dict[str, str] = {}
    if present:
        for res, fut in admin.describe_configs([ConfigResource("topic", n) for n in present]).items():
            retention[res.name] = fut.result()["retention.ms"].value
    from schemas.kafka import config_drift

    drift = config_drift(core.bootstrap, {n: c for n, c in topo.configs().items() if n in present})
    table = Table("topic", "partitions", "retention", "state")
    for n in names:
        if n not in md:
            table.add_row(n, "-", "-", "[red]missing[/] (`stir topics create`)")
            continue
        days = int(retention.get(n, "0")) / 86_400_000
        state = "[green]present[/]"
        if n in drift:
            state = "[yellow]drifted[/]: " + ", ".join(f"{k} {was} (declared {want})" for k, (was, want) in
                                                      drift[n].items()) + " (`stir topics create`)"  # fmt: skip
        table.add_row(n, str(len(md[n].partitions)), f"{days:g} d", state)
    out.print(table)
    if len(present) < len(names) or drift:
        raise typer.Exit(1)
