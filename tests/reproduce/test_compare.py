"""The metric comparator and the structured explanation: pure logic, so plain values."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from mlrepro.reproduce.compare import (
    Comparison,
    MetricComparison,
    Tolerance,
    compare_history,
    compare_histories,
    compare_metrics,
    explain,
)


def _one(comparison: Comparison, name: str) -> MetricComparison:
    (metric,) = [m for m in comparison.metrics if m.name == name]
    return metric


# --- single reproduction -------------------------------------------------------------------


def test_bit_equal_metrics_are_identical() -> None:
    result = compare_metrics({"acc": 0.9123456789, "loss": 0.1}, [{"acc": 0.9123456789, "loss": 0.1}])
    assert result.verdict == "identical"
    acc = _one(result, "acc")
    assert (acc.outcome, acc.within_tolerance, acc.abs_diff, acc.rel_diff) == ("identical", True, 0.0, 0.0)
    assert acc.original == 0.9123456789 and acc.reproduced == 0.9123456789
    assert result.spread == {}


def test_summation_order_noise_is_within_the_default_rtol() -> None:
    a = 0.1 + 0.2 + 0.3
    b = 0.3 + 0.2 + 0.1  # differs in the last bit
    assert a != b
    result = compare_metrics({"loss": a}, [{"loss": b}])
    loss = _one(result, "loss")
    assert result.verdict == "within-tolerance"
    assert loss.outcome == "within-tolerance" and loss.within_tolerance
    assert loss.abs_diff == pytest.approx(abs(a - b)) and 0 < loss.rel_diff < 1e-15


def test_atol_decides_near_zero_where_rtol_cannot() -> None:
    # Relative to 1e-13 the difference is 100%, but it is below atol=1e-12.
    result = compare_metrics({"bias": 1e-13}, [{"bias": 0.0}])
    assert _one(result, "bias").outcome == "within-tolerance"
    assert result.verdict == "within-tolerance"
    tighter = compare_metrics({"bias": 1e-13}, [{"bias": 0.0}], Tolerance(atol=1e-14))
    assert tighter.verdict == "diverged"


def test_signed_zero_is_not_bit_equal_but_within_tolerance() -> None:
    result = compare_metrics({"m": 0.0}, [{"m": -0.0}])
    assert _one(result, "m").outcome == "within-tolerance"


def test_divergence_reports_absolute_and_relative_difference() -> None:
    result = compare_metrics({"acc": 0.80, "loss": 0.5}, [{"acc": 0.84, "loss": 0.5}])
    acc = _one(result, "acc")
    assert result.verdict == "diverged"
    assert acc.outcome == "diverged" and not acc.within_tolerance
    assert acc.abs_diff == pytest.approx(0.04)
    assert acc.rel_diff == pytest.approx(0.04 / 0.84)
    assert _one(result, "loss").outcome == "identical"


def test_comparator_boundary_uses_the_larger_magnitude() -> None:
    # |a-b| = 1, rtol*max(|a|,|b|) = 0.1*10 = 1: exactly on the boundary is within.
    assert compare_metrics({"m": 9.0}, [{"m": 10.0}], Tolerance(rtol=0.1)).verdict == "within-tolerance"
    assert compare_metrics({"m": 9.0}, [{"m": 10.0}], Tolerance(rtol=0.099)).verdict == "diverged"


def test_nan_on_both_sides_is_equal() -> None:
    result = compare_metrics({"loss": math.nan, "acc": 0.5}, [{"loss": math.nan, "acc": 0.5}])
    loss = _one(result, "loss")
    assert loss.outcome == "nan" and loss.within_tolerance
    assert loss.abs_diff is None and loss.rel_diff is None
    assert result.verdict == "identical"


def test_tolerance_close_is_the_comparator() -> None:
    tol = Tolerance()
    assert tol.close(math.nan, math.nan)
    assert not tol.close(math.nan, 0.0) and not tol.close(0.0, math.nan)
    assert tol.close(1.0, 1.0 + 1e-10) and not tol.close(1.0, 1.0 + 1e-8)


@pytest.mark.parametrize(("original", "reproduced"), [(math.nan, 0.5), (0.5, math.nan)])
def test_nan_against_a_number_diverges(original: float, reproduced: float) -> None:
    result = compare_metrics({"loss": original}, [{"loss": reproduced}], Tolerance(rtol=1.0, atol=1e9))
    loss = _one(result, "loss")
    assert result.verdict == "diverged"
    assert loss.outcome == "diverged" and not loss.within_tolerance
    assert loss.abs_diff is None


def test_infinity_matches_only_itself_whatever_the_tolerance() -> None:
    assert compare_metrics({"m": math.inf}, [{"m": math.inf}]).verdict == "identical"
    loose = Tolerance(rtol=1.0, atol=1e300)
    for other in (-math.inf, 1e308, 0.0):
        result = compare_metrics({"m": math.inf}, [{"m": other}], loose)
        metric = _one(result, "m")
        assert result.verdict == "diverged", other
        assert metric.abs_diff == math.inf and metric.rel_diff == math.inf


def test_missing_metric_diverges_and_extra_metric_is_a_note() -> None:
    result = compare_metrics({"acc": 0.9, "f1": 0.8}, [{"acc": 0.9, "new_metric": 3.0}])
    f1, new = _one(result, "f1"), _one(result, "new_metric")
    assert result.verdict == "diverged"
    assert (f1.outcome, f1.original, f1.reproduced, f1.within_tolerance) == ("missing", 0.8, None, False)
    assert (new.outcome, new.original, new.reproduced, new.within_tolerance) == ("extra", None, 3.0, True)
    assert any("new_metric" in n for n in result.notes)
    assert any("f1" in n for n in result.notes)


def test_extra_metric_alone_does_not_change_the_verdict() -> None:
    result = compare_metrics({"acc": 0.9}, [{"acc": 0.9, "new_metric": 3.0}])
    assert result.verdict == "identical"


def test_timing_metrics_are_excluded_by_glob_case_insensitively() -> None:
    original = {"acc": 0.9, "fit_time": 1.0, "Train_Duration_ms": 10.0, "epoch_seconds": 2.0, "log_timestamp": 5.0}
    reproduced = {"acc": 0.9, "fit_time": 9.0, "Train_Duration_ms": 90.0, "epoch_seconds": 7.0, "log_timestamp": 6.0}
    result = compare_metrics(original, [reproduced])
    assert [m.name for m in result.metrics] == ["acc"]
    assert result.verdict == "identical"
    (note,) = [n for n in result.notes if "timing" in n]
    for name in ("fit_time", "Train_Duration_ms", "epoch_seconds", "log_timestamp"):
        assert name in note


def test_custom_exclude_patterns_replace_the_defaults() -> None:
    result = compare_metrics({"fit_time": 1.0, "gpu_mem": 1.0}, [{"fit_time": 2.0, "gpu_mem": 5.0}], exclude=("gpu_*",))
    assert [m.name for m in result.metrics] == ["fit_time"]
    assert result.verdict == "diverged"


def test_per_metric_tolerance_overrides_the_default() -> None:
    original, reproduced = {"acc": 0.80, "loss": 0.5}, {"acc": 0.81, "loss": 0.5 + 1e-6}
    assert compare_metrics(original, [reproduced]).verdict == "diverged"
    result = compare_metrics(original, [reproduced], per_metric={"acc": Tolerance(rtol=0.05)})
    assert _one(result, "acc").outcome == "within-tolerance"
    assert _one(result, "loss").outcome == "diverged"  # still judged by the default
    loose = {"acc": Tolerance(rtol=0.05), "lo*": Tolerance(rtol=1e-5)}
    assert compare_metrics(original, [reproduced], per_metric=loose).verdict == "within-tolerance"


def test_a_per_metric_tolerance_brings_an_excluded_metric_back() -> None:
    result = compare_metrics({"fit_time": 1.0}, [{"fit_time": 1.05}], per_metric={"fit_time": Tolerance(rtol=0.1)})
    assert _one(result, "fit_time").outcome == "within-tolerance"


def test_values_are_normalised_to_float() -> None:
    result = compare_metrics({"n": 3, "acc": np.float64(0.25)}, [{"n": 3.0, "acc": 0.25}])
    assert result.verdict == "identical"
    assert all(type(m.original) is float for m in result.metrics)


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError):
        compare_metrics({"acc": 1.0}, [])
    with pytest.raises(ValueError):
        Tolerance(rtol=-1e-9)
    with pytest.raises(ValueError):
        Tolerance(atol=math.nan)


def test_empty_original_is_said_so() -> None:
    result = compare_metrics({}, [{"acc": 1.0}])
    assert any("no metrics" in n for n in result.notes)


@pytest.mark.parametrize(
    ("original", "reproduced"),
    [({}, {"acc": 1.0}), ({"fit_time": 1.0}, {"fit_time": 2.0}), ({"fit_time": 1.0}, {"fit_time": 1.0, "acc": 0.5})],
)
def test_nothing_compared_is_its_own_verdict_never_identical(original: dict[str, float], reproduced: dict[str, float]) -> None:
    """No metric of the original was judged (none logged, or timing metrics only): that
    proves nothing, so it must not read as a reproduction."""
    result = compare_metrics(original, [reproduced])
    assert result.verdict == "not-compared"
    assert all(m.outcome == "extra" for m in result.metrics)


def test_unseeded_single_reproduction_diverges_and_says_noise_is_unmeasured() -> None:
    result = compare_metrics({"acc": 0.80}, [{"acc": 0.81}], deterministic=False)
    assert result.verdict == "diverged"
    assert any("seed noise" in n for n in result.notes)


# --- repeats -------------------------------------------------------------------------------


def test_repeats_report_spread_with_sample_std() -> None:
    values = [0.80, 0.82, 0.81, 0.79, 0.83]
    result = compare_metrics({"acc": 0.81}, [{"acc": v} for v in values], deterministic=False)
    spread = result.spread["acc"]
    assert spread["min"] == 0.79 and spread["max"] == 0.83
    assert spread["mean"] == pytest.approx(statistics.mean(values))
    assert spread["std"] == pytest.approx(statistics.stdev(values))
    assert spread["std"] != pytest.approx(statistics.pstdev(values))
    acc = _one(result, "acc")
    assert acc.reproduced == values
    assert acc.abs_diff == pytest.approx(0.02)


def test_original_inside_the_spread_is_within_seed_noise() -> None:
    result = compare_metrics({"acc": 0.81}, [{"acc": v} for v in (0.80, 0.82, 0.83)], deterministic=False)
    acc = _one(result, "acc")
    assert (result.verdict, acc.outcome, acc.within_tolerance) == ("within-seed-noise", "within-seed-noise", True)


def test_spread_is_widened_by_the_tolerance() -> None:
    reps = [{"acc": v} for v in (0.80, 0.82)]
    assert compare_metrics({"acc": 0.8201}, reps, deterministic=False).verdict == "diverged"
    widened = compare_metrics({"acc": 0.8201}, reps, Tolerance(rtol=1e-3), deterministic=False)
    assert widened.verdict == "within-seed-noise"


def test_original_outside_the_spread_diverges() -> None:
    result = compare_metrics({"acc": 0.90}, [{"acc": v} for v in (0.80, 0.82, 0.81)], deterministic=False)
    assert result.verdict == "diverged"
    assert _one(result, "acc").abs_diff == pytest.approx(0.10)


def test_seeded_run_must_match_on_every_repeat() -> None:
    reps = [{"acc": 0.80}, {"acc": 0.82}]
    result = compare_metrics({"acc": 0.80}, reps, deterministic=True)
    assert result.verdict == "diverged"  # inside the spread does not rescue a seeded run
    assert any("not deterministic" in n and "acc" in n for n in result.notes)


def test_identical_repeats_are_identical_even_when_unseeded() -> None:
    result = compare_metrics({"acc": 0.8}, [{"acc": 0.8}] * 3, deterministic=False)
    assert result.verdict == "identical"
    assert result.spread["acc"] == {"min": 0.8, "max": 0.8, "mean": 0.8, "std": 0.0}
    assert not any("not deterministic" in n for n in result.notes)


def test_metric_missing_from_one_repeat_is_missing() -> None:
    result = compare_metrics({"acc": 0.8}, [{"acc": 0.8}, {}, {"acc": 0.8}], deterministic=False)
    acc = _one(result, "acc")
    assert acc.outcome == "missing" and acc.reproduced == [0.8, None, 0.8]
    assert result.verdict == "diverged"


def test_nan_in_a_repeat_is_not_rescued_by_the_spread() -> None:
    result = compare_metrics({"acc": 0.81}, [{"acc": 0.80}, {"acc": math.nan}, {"acc": 0.82}], deterministic=False)
    assert result.verdict == "diverged"
    assert all(math.isnan(v) for v in result.spread["acc"].values())


# --- explain -------------------------------------------------------------------------------


def test_explain_lists_changed_added_and_removed_keys() -> None:
    original = {
        "params": {"lr": "0.1", "seed": "42", "depth": "3"},
        "environment": {"mlrepro.threads.omp": "4", "mlrepro.python": "3.11.9"},
    }
    reproduced = {
        "params": {"lr": ".1", "depth": "3", "batch": "32"},
        "environment": {"mlrepro.threads.omp": "8", "mlrepro.python": "3.11.9"},
    }
    assert explain(original, reproduced) == [
        "environment.mlrepro.threads.omp changed: '4' -> '8'",
        "params.batch added in the reproduction: '32'",
        "params.lr changed: '0.1' -> '.1'",
        "params.seed missing from the reproduction (was '42')",
    ]


def test_explain_finds_nothing_in_equal_mappings() -> None:
    same = {"params": {"lr": "0.1"}, "datasets": {"train (training)": "abc123"}}
    assert explain(same, {"params": {"lr": "0.1"}, "datasets": {"train (training)": "abc123"}}) == []


def test_explain_compares_values_as_strings() -> None:
    # deepdiff on raw values reports np.float64 vs float as a type change; as strings it is equal.
    assert explain({"params": {"lr": np.float64(0.1), "n": None}}, {"params": {"lr": 0.1, "n": ""}}) == []
    # ...while a logged-string difference MLflow would keep is reported.
    assert explain({"params": {"n": 1}}, {"params": {"n": 1.0}}) == ["params.n changed: '1' -> '1.0'"]


def test_explain_reports_a_whole_section_added_or_replaced() -> None:
    lines = explain({"params": {"a": "1"}}, {"params": "x", "datasets": {"train": "d1", "test": "d2"}})
    assert lines == [
        "datasets added in the reproduction: (2 entries)",
        "params changed: (1 entries) -> 'x'",
    ]


def test_explain_shortens_long_values() -> None:
    (line,) = explain({"tags": {"freeze": "a" * 500}}, {"tags": {"freeze": "b" * 500}})
    assert len(line) < 300 and "…" in line


def test_history_identical_and_within_tolerance() -> None:
    path = [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert compare_history("loss", path, list(path), Tolerance()).outcome == "identical"
    nudged = [(0, 1.0), (1, 0.5 + 1e-15), (2, 0.25)]
    item = compare_history("loss", path, nudged, Tolerance())
    assert (item.outcome, item.first_step, item.compared) == ("within-tolerance", None, 3)
    assert item.max_abs_diff == pytest.approx(1e-15, rel=0.5)


def test_history_reports_the_first_divergent_step_with_both_values() -> None:
    item = compare_history("loss", [(0, 1.0), (1, 0.5), (2, 0.25), (3, 0.2)], [(0, 1.0), (1, 0.6), (2, 0.3), (3, 0.2)], Tolerance())
    assert (item.outcome, item.first_step, item.original, item.reproduced) == ("diverged", 1, 0.5, 0.6)
    assert item.max_abs_diff == pytest.approx(0.1)


def test_history_missing_steps_and_repeated_steps() -> None:
    # A step logged twice counts with its last value; a step the reproduction never logged is missing.
    item = compare_history("acc", [(0, 0.1), (0, 0.2), (1, 0.3), (2, 0.4)], [(0, 0.2), (1, 0.3)], Tolerance())
    assert (item.outcome, item.first_step, item.missing_steps, item.steps) == ("missing", 2, 1, 3)
    extra = compare_history("acc", [(0, 0.1), (1, 0.2)], [(0, 0.1), (1, 0.2), (2, 0.3)], Tolerance())
    assert (extra.outcome, extra.extra_steps) == ("identical", 1)


def test_histories_skip_single_step_metrics_and_use_per_metric_tolerances() -> None:
    original = {"accuracy": [(0, 0.9)], "loss": [(0, 1.0), (1, 0.5)]}
    reproduced = {"accuracy": [(0, 0.8)], "loss": [(0, 1.0), (1, 0.51)]}
    [loss] = compare_histories(original, reproduced)
    assert loss.outcome == "diverged"
    [loss] = compare_histories(original, reproduced, per_metric={"lo*": Tolerance(0.05)})
    assert loss.outcome == "within-tolerance"


def test_configured_tolerances_read_the_policy_table_or_say_what_is_wrong() -> None:
    from mlrepro.reproduce.compare import configured_tolerances

    assert configured_tolerances({"val_loss": "1e-6:1e-9", "acc*": "0.01"}) == {
        "val_loss": Tolerance(1e-6, 1e-9), "acc*": Tolerance(0.01, Tolerance().atol)}
    assert configured_tolerances({}) == {}
    for table, message in (([], "must map metric names"), ({"a": 1}, "must map metric names"),
                           ({"a": "x"}, "a = 'x'"), ({"a": "-1"}, "a = '-1'")):
        with pytest.raises(ValueError, match=message):
            configured_tolerances(table)
