"""The tolerance comparison on any numbers and names (#17 fuzzing): NaN, infinities, negative
zero, the largest and smallest floats, any metric name. A verdict, or the module's ValueError
for what it refuses (no reproduction, a negative or NaN tolerance, a malformed tolerance
table), never another exception."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlrepro.reproduce.compare import (
    Tolerance,
    compare_histories,
    compare_metrics,
    configured_tolerances,
    metrics_to_compare,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VERDICTS = {"identical", "within-tolerance", "within-seed-noise", "diverged", "not-compared"}
OUTCOMES = {"identical", "within-tolerance", "within-seed-noise", "diverged", "missing", "extra", "nan"}

hostile_floats = st.floats() | st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 1e-300])
names = st.text(max_size=12) | st.sampled_from(["loss", "acc", "fit_time", "val/loss", "*", "[", "a*b", "Duration_Seconds"])
metrics = st.dictionaries(names, hostile_floats, max_size=6)
tolerances = st.builds(Tolerance, st.floats(min_value=0, allow_nan=False), st.floats(min_value=0, allow_nan=False))
histories = st.dictionaries(names, st.lists(st.tuples(st.integers(), hostile_floats), max_size=6), max_size=4)


@FUZZ
@given(metrics, st.lists(metrics, max_size=4), tolerances, st.dictionaries(names, tolerances, max_size=3), st.booleans())
@example({"loss": 1.7976931348623157e308}, [{"loss": 1.7976931348623157e308}, {"loss": -1.7976931348623157e308}], Tolerance(), {}, False)
@example({"loss": -0.0}, [{"loss": 0.0}], Tolerance(), {}, True)
@example({"loss": math.nan}, [{"loss": math.nan}, {"loss": math.inf}], Tolerance(math.inf, math.inf), {}, False)
def test_any_metrics_give_a_verdict(
    original: dict[str, float], reproductions: list[dict[str, float]], default: Tolerance, per_metric: dict[str, Tolerance], deterministic: bool,
) -> None:
    if not reproductions:
        with pytest.raises(ValueError):
            compare_metrics(original, reproductions, default, per_metric, deterministic=deterministic)
        return
    result = compare_metrics(original, reproductions, default, per_metric, deterministic=deterministic)
    assert result.verdict in VERDICTS
    assert {m.outcome for m in result.metrics} <= OUTCOMES
    assert {m.name for m in result.metrics} == set(metrics_to_compare(list(set(original).union(*reproductions)), per_metric))
    # A run compared with itself reproduces, whatever its numbers.
    itself = compare_metrics(original, [original, original], default, per_metric, deterministic=deterministic)
    assert all(m.outcome in {"identical", "nan"} for m in itself.metrics), itself


@FUZZ
@given(histories, histories, tolerances)
def test_any_histories_compare(original: dict[str, list[tuple[int, float]]], reproduced: dict[str, list[tuple[int, float]]], tol: Tolerance) -> None:
    for result in compare_histories(original, reproduced, tol):
        assert result.outcome in {"identical", "within-tolerance", "diverged", "missing"}
        assert result.compared <= result.steps


@FUZZ
@given(st.floats(), st.floats())
def test_a_tolerance_is_built_or_refused_with_a_value_error(rtol: float, atol: float) -> None:
    try:
        tol = Tolerance(rtol, atol)
    except ValueError:
        assert not (rtol >= 0 and atol >= 0)
        return
    assert tol.close(1.0, 1.0) and not tol.close(math.nan, 1.0) and not tol.close(math.inf, 1.0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    | st.sampled_from(["1e-3", "1e-3:1e-9", "nan", "-1", "inf", "1e400", ":", "1:2:3", "0x1", "\x00"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=10,
)


@FUZZ
@given(json_values)
@example({"loss": "nan"})
@example({"loss": "1e-3:-1"})
def test_any_tolerance_table_gives_tolerances_or_a_value_error(table: object) -> None:
    try:
        parsed = configured_tolerances(table)
    except ValueError:
        return
    assert all(t.rtol >= 0 and t.atol >= 0 for t in parsed.values())
