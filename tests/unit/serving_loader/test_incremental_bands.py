"""The incremental refresh's grade bands: every row whose grade changes when its group's thresholds move is
selected (checked against a plain grading function over random values and thresholds), and nothing moves when
the thresholds stay."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from serving_loader.incremental import band_condition, moved, next_versions
from serving_loader.specs import Bands

BANDS = Bands(query="-", thresholds="-", values="t WHERE 1", group="g", metrics=(("q_a", "a"), ("q_b", "b")))


def grade(x: float | None, q: list[float]) -> str | None:
    """The grade definition: null, 0, NaN or infinite → no grade; > p90 Excellent, > p75 Very Good, > p60 Good,
    > p40 Average, else Poor (q = [p40, p60, p75, p90]; an empty q: the group has nothing to grade by)."""
    if x is None or x == 0 or not math.isfinite(x) or not q:
        return None
    for name, threshold in zip(("Excellent", "Very Good", "Good", "Average"), reversed(q), strict=True):
        if x > threshold:
            return name
    return "Poor"


def selected(ranges: set[tuple[str, float, float]] | None, metric: str, x: float | None) -> bool:
    if ranges is None:
        return True
    return x is not None and any(m == metric and lo < x <= hi for m, lo, hi in ranges)


quantiles = st.lists(st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 1)), min_size=4, max_size=4).map(sorted)
maybe_q: st.SearchStrategy[list[float]] = st.one_of(st.just([]), quantiles)
value = st.one_of(st.none(), st.just(0.0), st.just(math.nan), st.floats(-6, 6).map(lambda v: round(v, 1)))


@settings(max_examples=400, deadline=None)
@given(old=st.lists(st.tuples(maybe_q, maybe_q), min_size=1, max_size=2), new=st.tuples(maybe_q, maybe_q),
       values=st.lists(st.tuples(value, value), min_size=1, max_size=30))  # fmt: skip
def test_every_row_whose_grade_moves_is_selected(old, new, values):
    versions = {"g1": [{"q_a": a, "q_b": b} for a, b in old]}
    now = {"g1": {"q_a": new[0], "q_b": new[1]}}
    ranges = moved(BANDS, versions, now).get("g1", set())
    for a, b in values:
        for version in versions["g1"]:
            if grade(a, version["q_a"]) != grade(a, now["g1"]["q_a"]):
                assert selected(ranges, "a", a), (a, version, now, ranges)
            if grade(b, version["q_b"]) != grade(b, now["g1"]["q_b"]):
                assert selected(ranges, "b", b), (b, version, now, ranges)


def test_nothing_moves_when_the_thresholds_stay():
    q = {"q_a": [1.0, 2.0, 3.0, 4.0], "q_b": []}
    assert moved(BANDS, {"g1": [q]}, {"g1": q}) == {}
    assert band_condition(BANDS, {"g1": [q]}, {"g1": q}) is None


def test_a_moved_threshold_selects_only_the_values_between_old_and_new():
    old = {"q_a": [1.0, 2.0, 3.0, 4.0], "q_b": [1.0, 1.0, 1.0, 1.0]}
    new = {"q_a": [1.0, 2.5, 3.0, 4.0], "q_b": [1.0, 1.0, 1.0, 1.0]}
    assert moved(BANDS, {"g1": [old]}, {"g1": new}) == {"g1": {("a", 2.0, 2.5)}}
    assert band_condition(BANDS, {"g1": [old]}, {"g1": new}) == "(g = 'g1' AND ((a > 2.0 AND a <= 2.5)))"


def test_a_new_group_or_one_graded_now_and_not_before_is_whole():
    q = {"q_a": [1.0, 2.0, 3.0, 4.0], "q_b": []}
    assert moved(BANDS, {}, {"o'k": q}) == {"o'k": None}
    assert band_condition(BANDS, {}, {"o'k": q}) == "g = 'o\\'k'"
    assert moved(BANDS, {"g1": [{"q_a": [], "q_b": []}]}, {"g1": q}) == {"g1": None}


def test_the_versions_after_a_refresh_keep_every_version_the_fetched_rows_were_graded_with():
    looked = {"g1": {"q_a": [1.0]}, "g2": {"q_a": [2.0]}}
    # g1's rows came from two queries apart (a lookup after the windowed fetch), graded with two versions
    fetched = {"g1": [{"q_a": [1.5]}, {"q_a": [1.7]}], "g2": [{"q_a": [2.0]}], "g3": [{"q_a": [3.0]}]}
    assert next_versions(looked, fetched) == {"g1": [{"q_a": [1.0]}, {"q_a": [1.5]}, {"q_a": [1.7]}],
                                              "g2": [{"q_a": [2.0]}], "g3": [{"q_a": [3.0]}]}  # fmt: skip


def test_every_incremental_spec_has_one_text_key():
    """The incremental refresh looks keys up by name as a text array: one text key column per such spec."""
    from serving_loader.specs import SPECS

    for spec in SPECS:
        if spec.incremental is not None:
            assert len(spec.key) == 1 and dict(spec.columns)[spec.key[0]] == "text", spec.name
            assert "{since}" in spec.incremental.changed and "{upto}" in spec.incremental.changed, spec.name
