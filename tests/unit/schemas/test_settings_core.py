"""CoreSettings: one variable per shared setting, read alike by every component; a topic prefix scopes every name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from clickhouse_ddl.settings import WarehouseSettings
from connectors.debezium import ConnectorSettings, connector_config
from connectors.ingest.settings import IngestSettings
from deploy.local.settings import StackSettings
from schemas.settings import CoreSettings, settings_error
from serving_loader.settings import LoaderSettings
from streams.settings import StreamsSettings

COMPONENTS = (StreamsSettings, IngestSettings, ConnectorSettings, WarehouseSettings, LoaderSettings, StackSettings)


def test_every_component_reads_the_shared_variables(monkeypatch):
    monkeypatch.setenv("STIR_PARTITIONS", "7")
    monkeypatch.setenv("STIR_TOPIC_PREFIX", "ns1.")
    monkeypatch.setenv("STIR_CDC_PREFIX", "pg")
    for cls in COMPONENTS:
        s = cls()
        assert (s.partitions, s.topic_prefix, s.cdc_prefix) == (7, "ns1.", "pg"), cls.__name__
        assert isinstance(s, CoreSettings)


def test_the_old_per_stage_copies_are_gone(monkeypatch):
    """A stage's own prefix does not reach a shared field (STIR_STREAMS_PARTITIONS is not a second count)."""
    monkeypatch.setenv("STIR_STREAMS_PARTITIONS", "9")
    monkeypatch.setenv("STIR_INGEST_TOPIC_PREFIX", "x.")
    assert StreamsSettings().partitions == 4
    assert IngestSettings().topic_prefix == ""


def test_a_topic_prefix_scopes_every_name(monkeypatch):
    monkeypatch.setenv("STIR_TOPIC_PREFIX", "t-9.")
    streams, wh, loader, cdc = StreamsSettings(), WarehouseSettings(), LoaderSettings(), ConnectorSettings()
    assert streams.app_id == "t_9.stir-streams"
    assert (wh.kafka_group, wh.ch_database) == ("t_9.stir-warehouse", "t_9_stir")
    assert loader.schema_name == "t_9_serving"
    assert (cdc.name, cdc.slot_name, cdc.publication) == ("t_9-stir-oltp", "t_9_stir_cdc", "t_9_stir_cdc")
    config = connector_config(cdc, dbname="x")
    assert config["topic.prefix"] == "t-9.cdc"
    assert config["transforms.outbox.route.topic.replacement"] == "t-9.outbox.${routedByValue}.events"


def test_no_prefix_keeps_the_plain_names(monkeypatch):
    monkeypatch.delenv("STIR_TOPIC_PREFIX", raising=False)
    assert StreamsSettings().app_id == "stir-streams"
    assert (LoaderSettings().schema_name, CoreSettings().ch_database) == ("serving", "stir")


def test_explicit_names_win(monkeypatch):
    monkeypatch.setenv("STIR_TOPIC_PREFIX", "a.")
    monkeypatch.setenv("STIR_STREAMS_APP_ID", "mine")
    assert StreamsSettings().app_id == "mine"


@pytest.mark.parametrize(("var", "value"), [("STIR_PARTITIONS", "0"), ("STIR_TOPIC_PREFIX", "bad prefix!"),
                                            ("STIR_STREAMS_TAKE_MAX_MESSAGES", "-1")])  # fmt: skip
def test_a_bad_value_names_its_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as exc:
        StreamsSettings()
    message = settings_error(StreamsSettings, exc.value)
    assert var in message and message.startswith("bad configuration: ")
