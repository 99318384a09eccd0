"""``--must-beat``: the candidate's metric against the version currently holding the target,
with the semantics of MLflow's ``MetricThreshold`` for evaluation results:

* higher is better: ``candidate >= baseline + min_abs`` and ``candidate >= baseline + min_rel * |baseline|``;
* lower is better: ``candidate <= baseline - min_abs`` and ``candidate <= baseline - min_rel * |baseline|``.

Without a minimum change the candidate must be at least as good as the baseline (MLflow's
``MetricThreshold`` then compares nothing; a gate that compares nothing is no gate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

DIRECTIONS = {"higher": True, "lower": False}


class ThresholdError(ValueError):
    """A ``--must-beat`` specification that cannot be read."""


@dataclass(frozen=True)
class MetricThreshold:
    metric: str
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    greater_is_better: bool = True

    @classmethod
    def parse(cls, spec: str) -> MetricThreshold:
        """``METRIC[:MIN_ABS[:MIN_REL]][:higher|lower]``: ``accuracy``, ``accuracy:0.01``,
        ``accuracy::0.02``, ``rmse:lower``, ``rmse:0.5:0.01:lower``. Higher is better unless
        the last part says ``lower``."""
        usage = f"--must-beat {spec!r}: expected METRIC[:MIN_ABS[:MIN_REL]][:higher|lower]"
        parts = spec.split(":")
        greater = True
        if len(parts) > 1 and parts[-1].strip().lower() in DIRECTIONS:
            greater = DIRECTIONS[parts.pop().strip().lower()]
        metric = parts[0].strip()
        if not metric or len(parts) > 3:
            raise ThresholdError(usage)
        try:
            numbers = [float(p) if p.strip() else None for p in parts[1:]]
        except ValueError:
            raise ThresholdError(usage) from None
        absolute = numbers[0] if numbers else None
        relative = numbers[1] if len(numbers) > 1 else None
        if absolute is not None and not (absolute >= 0 and math.isfinite(absolute)):
            raise ThresholdError(f"--must-beat {spec!r}: the minimum absolute change must be a non-negative number")
        if relative is not None and not 0 <= relative <= 1:
            raise ThresholdError(f"--must-beat {spec!r}: the minimum relative change must be between 0 and 1")
        return cls(metric, absolute, relative, greater)

    def __str__(self) -> str:
        changes = [f"{self.min_absolute_change:g}" if self.min_absolute_change is not None else ""]
        if self.min_relative_change is not None:
            changes.append(f"{self.min_relative_change:g}")
        spec = ":".join([self.metric, *changes]).rstrip(":")
        return f"{spec}:{'higher' if self.greater_is_better else 'lower'}"

    def required(self, baseline: float) -> float:
        """The value the candidate must reach (at least, or at most when lower is better)."""
        margin = max(self.min_absolute_change or 0.0, (self.min_relative_change or 0.0) * abs(baseline))
        return baseline + margin if self.greater_is_better else baseline - margin


@dataclass(frozen=True)
class MetricCheck:
    threshold: MetricThreshold
    candidate: float | None
    baseline: float | None
    required: float | None
    passed: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.threshold.metric,
            "greater_is_better": self.threshold.greater_is_better,
            "min_absolute_change": self.threshold.min_absolute_change,
            "min_relative_change": self.threshold.min_relative_change,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "required": self.required,
            "passed": self.passed,
            "reason": self.reason,
        }


def check(threshold: MetricThreshold, candidate: Mapping[str, float], baseline: Mapping[str, float], baseline_label: str) -> MetricCheck:
    name = threshold.metric
    value, base = candidate.get(name), baseline.get(name)
    if value is None or math.isnan(value):
        return MetricCheck(threshold, value, base, None, False, f"{name}: the candidate's run logged no value")
    if base is None or math.isnan(base):
        return MetricCheck(threshold, value, base, None, False, f"{name}: {baseline_label}'s run logged no value to compare with")
    needed = threshold.required(base)
    passed = value >= needed if threshold.greater_is_better else value <= needed
    word = ">=" if threshold.greater_is_better else "<="
    diff = value - base
    verdict = "beats" if passed else "does not beat"
    reason = f"{name}: {value:.6g} vs {base:.6g} ({diff:+.6g}) {verdict} {baseline_label}: needs {word} {needed:.6g}"
    return MetricCheck(threshold, value, base, needed, passed, reason)
