"""The local pipeline's processes run with the environment they were given: the default metrics ports (the ones
Prometheus scrapes) only where nothing else sets them."""

from __future__ import annotations

from deploy.local.pipeline import METRICS_PORTS, Pipeline


def test_a_metrics_port_from_the_environment_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("STIR_STREAMS_METRICS_PORT", "29101")
    monkeypatch.delenv("STIR_CH_METRICS_PORT", raising=False)
    env = Pipeline(tmp_path).environment()
    assert env["STIR_STREAMS_METRICS_PORT"] == "29101"
    assert env["STIR_CH_METRICS_PORT"] == METRICS_PORTS["STIR_CH_METRICS_PORT"]
    # a pipeline's own overrides win over both
    assert (
        Pipeline(tmp_path, {"STIR_STREAMS_METRICS_PORT": "29111"}).environment()["STIR_STREAMS_METRICS_PORT"] == "29111"
    )
