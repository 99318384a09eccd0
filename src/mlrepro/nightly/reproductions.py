"""Reproductions for the report, from both places they live, as plain data:

- those this report ran (``--reproduce``): the outcomes ``reproduce/bulk.py`` returns;
- those recorded earlier: ``mlrepro reproduce --record`` tags the original run with
  ``mlrepro.reproduced.verdict/run_ids/date``, and every re-execution is a run tagged
  ``mlrepro.reproduces=<original id>`` that holds the reproduced metrics.

Each metric carries its tolerance band (``|a-b| <= max(rtol*|a|, atol)`` around the original),
so the page can draw original vs reproduced with the band and the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlrepro import tags
from mlrepro.records import RunRecord
from mlrepro.seeds import is_seeded

# _tolerance_for: the same per-metric lookup (exact name, then glob) that `mlrepro reproduce` applies.
from mlrepro.reproduce.compare import REPRODUCED_VERDICTS, Tolerance, _tolerance_for, compare_metrics

REPRODUCED = REPRODUCED_VERDICTS  # anything else (diverged, failed, not-compared) is not reproduced
MAX_METRICS = 12  # per chart: a run logging hundreds of metrics would drown the page


def outcome_class(verdict: str) -> str:
    """The summary bucket: reproduced, diverged or failed (not-compared counts as failed: it proves nothing)."""
    return "reproduced" if verdict in REPRODUCED else "diverged" if verdict == "diverged" else "failed"


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _band(original: float | None, tolerance: Tolerance) -> float | None:
    if original is None:
        return None
    return max(tolerance.rtol * abs(original), tolerance.atol)


def _metric_rows(comparison: Any, default: Tolerance, per_metric: Mapping[str, Tolerance]) -> list[dict[str, Any]]:
    rows = []
    for metric in comparison.metrics if comparison is not None else ():
        if metric.outcome == "extra":
            continue  # only the reproduction logged it: nothing to compare against
        values = metric.reproduced if isinstance(metric.reproduced, list) else [metric.reproduced]
        original = _finite(metric.original)
        rows.append({
            "name": metric.name,
            "original": metric.original,
            "reproduced": [v for v in values],
            "band": _band(original, _tolerance_for(metric.name, default, per_metric)),
            "outcome": metric.outcome,
        })
    return rows[:MAX_METRICS]


def from_outcomes(outcomes: Mapping[str, object], runs: Mapping[str, RunRecord]) -> list[dict[str, Any]]:
    """Reproductions this report ran (``reproduce_many`` outcomes; bulk runs use the default tolerance)."""
    result = []
    for run_id, outcome in outcomes.items():
        verdict = str(getattr(outcome, "verdict", "failed"))
        run = runs.get(run_id)
        result.append({
            "run_id": run_id,
            "run_name": run.run_name if run else None,
            "experiment": (run.experiment_name or run.experiment_id) if run else None,
            "verdict": verdict,
            "outcome": outcome_class(verdict),
            "origin": "this report",
            "date": None,
            "reproduction_run_ids": [a.run_id for a in getattr(outcome, "attempts", [])],
            "metrics": _metric_rows(getattr(outcome, "comparison", None), Tolerance(), {}),
            "notes": [str(n) for n in getattr(outcome, "notes", [])][:8],
        })
    return result


def from_store(
    runs: Iterable[RunRecord],
    skip: Iterable[str] = (),
    default: Tolerance = Tolerance(),
    per_metric: Mapping[str, Tolerance] | None = None,
) -> list[dict[str, Any]]:
    """Reproductions recorded in the store: originals tagged with a verdict, and their
    reproduction runs. Metrics are compared again here (with the configured tolerances) to
    draw them; the verdict shown is the recorded one."""
    all_runs = list(runs)
    by_id = {run.run_id: run for run in all_runs}
    children: dict[str, list[RunRecord]] = {}
    for run in all_runs:
        original = run.tags.get(tags.REPRODUCES)
        if original:
            children.setdefault(original, []).append(run)
    skipped = set(skip)
    result = []
    for run in all_runs:
        verdict = run.tags.get(tags.REPRODUCED_VERDICT)
        if not verdict or run.run_id in skipped:
            continue
        listed = [i for i in run.tags.get(tags.REPRODUCED_RUN_IDS, "").split(",") if i]
        attempts: Sequence[RunRecord] = [by_id[i] for i in listed if i in by_id] or children.get(run.run_id, [])
        comparison = None
        with_metrics = [a.metrics for a in attempts if a.metrics]
        if with_metrics and len(with_metrics) == len(attempts):
            seeded = is_seeded(run.params, run.tags)
            comparison = compare_metrics(run.metrics, with_metrics, default, per_metric or {}, deterministic=seeded)
        result.append({
            "run_id": run.run_id,
            "run_name": run.run_name,
            "experiment": run.experiment_name or run.experiment_id,
            "verdict": verdict,
            "outcome": outcome_class(verdict),
            "origin": "recorded",
            "date": run.tags.get(tags.REPRODUCED_DATE),
            "reproduction_run_ids": listed or [a.run_id for a in attempts],
            "metrics": _metric_rows(comparison, default, per_metric or {}),
            "notes": [] if attempts else ["the reproduction runs are not in the audited store"],
        })
    return result
