"""The one declaration of the topology: every consumer of it agrees with it."""

from __future__ import annotations

from clickhouse_ddl.runner import all_sources
from connectors.debezium import ConnectorSettings, connector_config
from schemas.registry import contracts
from schemas.settings import CoreSettings
from schemas.topics import AGENTS, INGEST_TYPES, TOPICS, Topology, cdc_tables, contract_of_topic, read_by


def test_names_are_unique_and_every_contract_exists():
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    known = set(contracts())
    assert {t.contract for t in TOPICS if t.contract} == known, "a contract without a topic, or the reverse"


def test_the_warehouse_reads_exactly_the_declared_topics():
    assert {s.topic for s in all_sources()} == {t.name for t in read_by("warehouse")}


def test_every_agent_reads_something_and_every_read_topic_has_a_writer():
    for agent in AGENTS:
        if agent != "refresh":  # a timer: it reads its own table
            assert read_by(agent), agent
    for t in TOPICS:
        assert t.writers, t.name


def test_the_connector_captures_the_declared_tables():
    config = connector_config(ConnectorSettings(), dbname="x")
    tables = {x.split(".", 1)[1] for x in config["table.include.list"].split(",")}
    assert tables == {*cdc_tables(), "outbox"}
    for table, key in cdc_tables().items():
        if key != "id":
            assert f"public.{table}:{key}" in config["message.key.columns"]


def test_deployed_names_carry_the_prefixes_and_resolve_back():
    topo = Topology(CoreSettings(topic_prefix="ns.", cdc_prefix="pg"))
    assert topo.name("cdc.public.profiles") == "ns.pg.public.profiles"
    assert topo.name("metrics.post.rolling") == "ns.metrics.post.rolling"
    for t in TOPICS:
        assert topo.resolve(topo.name(t)) == t
    assert topo.resolve("metrics.post.rolling") is None  # without the prefix it is another deployment's


def test_ingest_types_and_replay_contracts():
    assert "social.profile.snapshot" in INGEST_TYPES and "metrics.profile.rolling" not in INGEST_TYPES
    assert contract_of_topic("dev.social.post.snapshot") == "social.post.snapshot"
    assert contract_of_topic("dev.cdc.public.profiles") is None


def test_declared_configs_keep_what_producers_post_and_the_dead_letters_longest():
    from schemas.settings import CoreSettings
    from schemas.topics import BY_NAME, Topology

    days = {name: int(t.configs["retention.ms"]) // 86_400_000 for name, t in BY_NAME.items()}
    assert days["social.profile.snapshot"] == days["dlq.late"] == days["dlq.replay"] == 30
    assert days["metrics.profile.rolling"] == days["internal.post.by_profile"] == 7
    configs = Topology(CoreSettings(topic_prefix="t9.")).configs()
    assert configs["t9.social.scrape.status"]["cleanup.policy"] == "delete"
    assert all(name.startswith("t9.") or ".public." in name for name in configs)
