"""The worker's lag gauge holds its input partitions only: not the changelogs faust stops reading after a recovery
(their "lag" grew with every table write: an idle worker showed 132), not partitions a rebalance took away."""

from __future__ import annotations

from prometheus_client import REGISTRY

from streams.metrics import set_lag


def _lag() -> dict[tuple[str, str], float]:
    return {(s.labels["topic"], s.labels["partition"]): s.value for metric in REGISTRY.collect()
            if metric.name == "stir_streams_consumer_lag" for s in metric.samples}  # fmt: skip


def test_only_input_partitions_held_now_are_reported():
    inputs = {"t.social.profile.snapshot", "t.cdc.public.profiles"}
    set_lag({("t.social.profile.snapshot", 0): 5, ("t.social.profile.snapshot", 1): 0,
             ("t.stir-streams-profiles-changelog", 0): 132, ("t.cdc.public.profiles", 2): -3}, inputs)  # fmt: skip
    assert _lag() == {("t.social.profile.snapshot", "0"): 5.0, ("t.social.profile.snapshot", "1"): 0.0,
                      ("t.cdc.public.profiles", "2"): 0.0}  # fmt: skip
    set_lag({("t.social.profile.snapshot", 1): 7}, inputs)  # a rebalance took partitions 0 and 2
    assert _lag() == {("t.social.profile.snapshot", "1"): 7.0}
    set_lag({("t.social.profile.snapshot", 1): None}, inputs)  # held, lag unknown for now: the last value stays
    assert _lag() == {("t.social.profile.snapshot", "1"): 7.0}
    set_lag({}, inputs)
    assert _lag() == {}
