"""Compare a run's metrics with its reproductions, and explain what else differs.

The metric verdict uses one explicit comparator, ``|a-b| <= max(rtol*max(|a|,|b|), atol)``,
and never deepdiff: deepdiff's ``math_epsilon`` carries a hidden relative tolerance of 1e-9
and reports ``np.float64`` vs ``float`` as a type change, so it would decide the verdict by
accident. deepdiff only describes the structured side (params, tags, data digests,
environment) in :func:`explain`, where every value is compared as a string.
"""

from __future__ import annotations

import math
import statistics
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

DEFAULT_EXCLUDE: tuple[str, ...] = ("*_time", "*duration*", "*_seconds", "*timestamp*")

# Verdicts from best to worst: the comparison's verdict is its worst metric's. With no metric
# of the original judged it is NOT_COMPARED instead: nothing was shown to reproduce, so it
# must never read as "identical" (every gate treats it as not reproduced).
NOT_COMPARED = "not-compared"
REPRODUCED_VERDICTS = frozenset({"identical", "within-tolerance", "within-seed-noise"})
_VERDICT_RANK = {"identical": 0, "within-tolerance": 1, "within-seed-noise": 2, "diverged": 3}
# How each metric outcome weighs on the verdict; "extra" is absent because it is a note only.
_OUTCOME_VERDICT = {
    "identical": "identical",
    "nan": "identical",  # NaN logged on both sides: the run reproduced its NaN
    "within-tolerance": "within-tolerance",
    "within-seed-noise": "within-seed-noise",
    "diverged": "diverged",
    "missing": "diverged",
}
_MAX_VALUE_CHARS = 120


@dataclass(frozen=True)
class Tolerance:
    rtol: float = 1e-9
    atol: float = 1e-12

    def __post_init__(self) -> None:
        # A negative or NaN tolerance would silently make every comparison fail or pass.
        if not (self.rtol >= 0 and self.atol >= 0):
            raise ValueError(f"tolerances must be non-negative numbers, got rtol={self.rtol} atol={self.atol}")

    def close(self, a: float, b: float) -> bool:
        """The comparator. Non-finite values are close only to themselves: with ``inf`` the
        formula's right-hand side is ``inf`` and would accept anything."""
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= max(self.rtol * max(abs(a), abs(b)), self.atol)



def configured_tolerances(table: object) -> dict[str, Tolerance]:
    """``[tool.mlrepro.reproduce] tolerances`` (metric name or glob -> ``"RTOL[:ATOL]"``), read
    the same way by ``mlrepro reproduce``, ``promote`` and the nightly report. ValueError on
    anything else."""
    if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError('[tool.mlrepro.reproduce] tolerances must map metric names to "RTOL[:ATOL]" strings')
    parsed = {}
    for name, spec in table.items():
        rtol, _, atol = spec.partition(":")
        try:
            parsed[str(name)] = Tolerance(float(rtol), float(atol) if atol else Tolerance().atol)
        except ValueError:
            raise ValueError(f'[tool.mlrepro.reproduce] tolerances: {name} = {spec!r}: expected "RTOL[:ATOL]"') from None
    return parsed

@dataclass(frozen=True)
class MetricComparison:
    """One metric. With several reproductions ``reproduced`` is the list of their values
    (``None`` where one lacks the metric) and ``abs_diff``/``rel_diff`` are the largest
    differences between the original and any reproduction. ``within_tolerance`` means the
    metric does not count against the verdict (so it is True for NaN/NaN and for extra
    metrics, which are a note only)."""

    name: str
    original: float | None
    reproduced: float | None | list[float | None]
    abs_diff: float | None
    rel_diff: float | None
    within_tolerance: bool
    outcome: str  # identical | within-tolerance | within-seed-noise | diverged | missing | extra | nan


@dataclass(frozen=True)
class Comparison:
    verdict: str  # identical | within-tolerance | within-seed-noise | diverged | not-compared
    metrics: tuple[MetricComparison, ...]
    # min/max/mean/std per metric, only when there are several reproductions. std is the
    # sample standard deviation (statistics.stdev, n-1): the repeats are a sample of the
    # run's seed noise, not the whole population. NaN where it cannot be computed (a
    # non-finite value, or fewer than two values).
    spread: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _bit_equal(a: float, b: float) -> bool:
    # ``==`` would call 0.0 and -0.0 identical; "identical" promises the same bits.
    if math.isnan(a) and math.isnan(b):
        return True
    return struct.pack("<d", a) == struct.pack("<d", b)


def _diffs(a: float, b: float) -> tuple[float | None, float | None]:
    """Absolute and relative difference (relative to the larger magnitude, as the comparator)."""
    if math.isnan(a) or math.isnan(b):
        return None, None
    if a == b:
        return 0.0, 0.0
    if math.isinf(a) or math.isinf(b):
        return math.inf, math.inf
    diff = abs(a - b)
    return diff, diff / max(abs(a), abs(b))


def _single_outcome(a: float, b: float, tol: Tolerance) -> str:
    if math.isnan(a) and math.isnan(b):
        return "nan"
    if _bit_equal(a, b):
        return "identical"
    return "within-tolerance" if tol.close(a, b) else "diverged"


def _within_spread(a: float, values: Sequence[float], tol: Tolerance) -> bool:
    """The original lies within [min, max] of the reproductions, widened by the tolerance."""
    if not all(math.isfinite(v) for v in (a, *values)):
        return False  # min/max over NaN depend on order; non-finite values only match exactly
    lo, hi = min(values), max(values)
    return lo <= a <= hi or tol.close(a, lo) or tol.close(a, hi)


def _spread(values: Sequence[float]) -> dict[str, float]:
    if not values or not all(math.isfinite(v) for v in values):
        return {"min": math.nan, "max": math.nan, "mean": math.nan, "std": math.nan}
    return {
        "min": min(values),
        "max": max(values),
        "mean": statistics.mean(values),  # exact (fractions): identical repeats give their value back
        "std": _stdev(values),
    }


def _stdev(values: Sequence[float]) -> float:
    if len(values) < 2:
        return math.nan
    try:
        return statistics.stdev(values)
    except OverflowError:  # the exact result exceeds the largest float (values near ±1.8e308)
        return math.inf


def _matches(name: str, patterns: Sequence[str]) -> bool:
    # Case-insensitive so that "Fit_Time" is as much a timing metric as "fit_time".
    return any(fnmatchcase(name.lower(), p.lower()) for p in patterns)


def _tolerance_for(name: str, default: Tolerance, per_metric: Mapping[str, Tolerance]) -> Tolerance:
    if name in per_metric:
        return per_metric[name]
    for pattern, tol in per_metric.items():
        if fnmatchcase(name, pattern):
            return tol
    return default


def _compare_one(
    name: str,
    original: float,
    values: list[float | None],
    tol: Tolerance,
    deterministic: bool,
) -> MetricComparison:
    reproduced: float | None | list[float | None] = values[0] if len(values) == 1 else list(values)
    present = [v for v in values if v is not None]
    pairs = [_diffs(original, v) for v in present]
    abs_diffs = [d for d, _ in pairs if d is not None]
    rel_diffs = [r for _, r in pairs if r is not None]
    abs_diff = max(abs_diffs) if abs_diffs else None
    rel_diff = max(rel_diffs) if rel_diffs else None
    if len(present) < len(values):
        return MetricComparison(name, original, reproduced, abs_diff, rel_diff, False, "missing")
    outcomes = [_single_outcome(original, v, tol) for v in present]
    worst = max(outcomes, key=lambda o: _VERDICT_RANK[_OUTCOME_VERDICT[o]])
    if worst == "diverged" and not deterministic and len(present) > 1 and _within_spread(original, present, tol):
        worst = "within-seed-noise"
    return MetricComparison(name, original, reproduced, abs_diff, rel_diff, worst != "diverged", worst)


def compare_metrics(
    original: Mapping[str, float],
    reproductions: Sequence[Mapping[str, float]],
    default: Tolerance = Tolerance(),
    per_metric: Mapping[str, Tolerance] = {},  # read only, so the shared default is safe
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    deterministic: bool = True,
) -> Comparison:
    """Judge the reproductions' final metric values against the original's.

    Metrics whose names match ``exclude`` (case-insensitive globs) are left out, unless
    ``per_metric`` gives them a tolerance, which is an explicit request to compare them.
    ``per_metric`` keys are exact names, or globs when no exact name matches. With a
    deterministic run every reproduction must match on its own; with ``deterministic=False``
    and several reproductions, a metric no reproduction matches still passes as
    ``within-seed-noise`` when the original lies inside their spread widened by the tolerance.
    """
    if not reproductions:
        raise ValueError("compare_metrics needs at least one reproduction")
    orig = {k: float(v) for k, v in original.items()}
    reps = [{k: float(v) for k, v in r.items()} for r in reproductions]
    names = set(orig).union(*reps)
    excluded = sorted(n for n in names if n not in per_metric and _matches(n, exclude))
    compared = sorted(n for n in names if n not in excluded)

    metrics: list[MetricComparison] = []
    spread: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    for name in compared:
        values = [r.get(name) for r in reps]
        if len(reps) > 1:
            spread[name] = _spread([v for v in values if v is not None])
        if name not in orig:
            reproduced = values[0] if len(values) == 1 else list(values)
            metrics.append(MetricComparison(name, None, reproduced, None, None, True, "extra"))
            continue
        tol = _tolerance_for(name, default, per_metric)
        metrics.append(_compare_one(name, orig[name], values, tol, deterministic))

    judged = [_OUTCOME_VERDICT[m.outcome] for m in metrics if m.outcome != "extra"]
    verdict = max(judged, key=_VERDICT_RANK.__getitem__, default=NOT_COMPARED)
    if excluded:
        notes.append("not compared (timing metrics): " + ", ".join(excluded))
    if extra := [m.name for m in metrics if m.outcome == "extra"]:
        notes.append("logged only by the reproduction: " + ", ".join(extra))
    if missing := [m.name for m in metrics if m.outcome == "missing"]:
        notes.append("not logged by the reproduction: " + ", ".join(missing))
    if not any(m.outcome != "extra" for m in metrics):
        notes.append("the original run has no metrics to compare")
    if not deterministic and len(reps) == 1:
        notes.append("one reproduction cannot measure seed noise: repeat the run to judge it against a spread")
    if deterministic and len(reps) > 1:
        varying = [n for n, s in spread.items() if n in orig and s["min"] != s["max"]]
        if varying:
            notes.append("varies between reproductions although the run is seeded, so it is not deterministic: " + ", ".join(varying))
    return Comparison(verdict, tuple(metrics), spread, tuple(notes))


@dataclass(frozen=True)
class HistoryComparison:
    """One metric's per-step history against one reproduction's. Steps are compared where
    both logged them; a step logged several times counts with its last value."""

    name: str
    steps: int  # steps the original logged
    compared: int  # steps both sides logged
    outcome: str  # identical | within-tolerance | diverged | missing
    first_step: int | None = None  # the first step outside the tolerance (or missing)
    original: float | None = None  # the values at that step
    reproduced: float | None = None
    max_abs_diff: float | None = None  # over the compared steps
    missing_steps: int = 0  # steps the original logged and the reproduction did not
    extra_steps: int = 0


def _by_step(history: Sequence[tuple[int, float]]) -> dict[int, float]:
    return {step: float(value) for step, value in history}  # later values of a step win


def compare_history(
    name: str, original: Sequence[tuple[int, float]], reproduced: Sequence[tuple[int, float]], tol: Tolerance
) -> HistoryComparison:
    """A run can end on the same number by a different path (a different shuffle that happens
    to converge): the history shows it, the final value does not."""
    orig, rep = _by_step(original), _by_step(reproduced)
    common = sorted(set(orig) & set(rep))
    missing = sorted(set(orig) - set(rep))
    outcome, first = "identical", None
    max_abs: float | None = None
    for step in common:
        a, b = orig[step], rep[step]
        single = _single_outcome(a, b, tol)
        diff, _ = _diffs(a, b)
        if diff is not None:
            max_abs = diff if max_abs is None else max(max_abs, diff)
        if single == "diverged" and first is None:
            outcome, first = "diverged", step
        elif single == "within-tolerance" and outcome == "identical":
            outcome = "within-tolerance"
    if missing and outcome != "diverged":
        outcome, first = "missing", missing[0]
    return HistoryComparison(
        name=name,
        steps=len(orig),
        compared=len(common),
        outcome=outcome,
        first_step=first,
        original=orig.get(first) if first is not None else None,
        reproduced=rep.get(first) if first is not None else None,
        max_abs_diff=max_abs,
        missing_steps=len(missing),
        extra_steps=len(set(rep) - set(orig)),
    )


def compare_histories(
    original: Mapping[str, Sequence[tuple[int, float]]],
    reproduced: Mapping[str, Sequence[tuple[int, float]]],
    default: Tolerance = Tolerance(),
    per_metric: Mapping[str, Tolerance] = {},  # read only
) -> tuple[HistoryComparison, ...]:
    """Compare the histories of the metrics the original logged (the caller leaves out the
    timing metrics, as for final values). Metrics with at most one step have no path to
    compare and are left to :func:`compare_metrics`."""
    return tuple(
        compare_history(name, history, reproduced.get(name, ()), _tolerance_for(name, default, per_metric))
        for name, history in sorted(original.items())
        if len(_by_step(history)) > 1
    )


def metrics_to_compare(names: Sequence[str], per_metric: Mapping[str, Tolerance] = {}, exclude: Sequence[str] = DEFAULT_EXCLUDE) -> list[str]:
    """The metric names :func:`compare_metrics` judges (timing metrics left out unless a
    per-metric tolerance asks for them)."""
    return sorted(n for n in names if n in per_metric or not _matches(n, exclude))


def _as_strings(value: Any) -> Any:
    """Mappings stay mappings (with string keys), every other value becomes its string: MLflow
    logs params and tags as strings, and numpy vs Python numbers must not look different."""
    if isinstance(value, Mapping):
        return {str(k): _as_strings(v) for k, v in value.items()}
    return "" if value is None else str(value)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else f"({len(value)} entries)" if isinstance(value, Mapping) else str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def explain(original: Mapping[str, Any], reproduced: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two nested mappings (params, tags, dataset digests,
    environment), one line per changed, added or removed key, sorted by key path. Values are
    compared as strings. Not for metrics: use :func:`compare_metrics`."""
    try:
        from deepdiff import DeepDiff
    except ImportError as exc:  # an optional extra: say which one
        raise ImportError("explaining differences needs deepdiff: pip install 'mlrepro[diff]'") from exc

    diff = DeepDiff(_as_strings(original), _as_strings(reproduced), view="tree")
    lines: list[tuple[str, str]] = []
    for report, levels in diff.items():
        for level in levels:
            path = ".".join(str(p) for p in level.path(output_format="list"))
            if report == "dictionary_item_added":
                lines.append((path, f"{path} added in the reproduction: {_show(level.t2)}"))
            elif report == "dictionary_item_removed":
                lines.append((path, f"{path} missing from the reproduction (was {_show(level.t1)})"))
            else:  # values_changed, type_changes (a mapping on one side, a value on the other)
                lines.append((path, f"{path} changed: {_show(level.t1)} -> {_show(level.t2)}"))
    return [line for _, line in sorted(lines)]
