"""The --must-beat grammar and MLflow MetricThreshold semantics, and how --to picks a stage
or an alias (pure functions: no store needed)."""

from __future__ import annotations

import pytest

from mlrepro.promote.gate import PromoteError, Target, resolve_target
from mlrepro.promote.threshold import MetricThreshold, ThresholdError, check


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("accuracy", MetricThreshold("accuracy", None, None, True)),
        ("accuracy:0.01", MetricThreshold("accuracy", 0.01, None, True)),
        ("accuracy::0.02", MetricThreshold("accuracy", None, 0.02, True)),
        ("rmse:lower", MetricThreshold("rmse", None, None, False)),
        ("rmse:0.5:0.1:lower", MetricThreshold("rmse", 0.5, 0.1, False)),
        ("f1:0:0:HIGHER", MetricThreshold("f1", 0.0, 0.0, True)),
    ],
)
def test_specs_parse(spec: str, expected: MetricThreshold) -> None:
    assert MetricThreshold.parse(spec) == expected


@pytest.mark.parametrize("spec", ["", ":0.1", "acc:x", "acc:-1", "acc::1.5", "acc:1:2:3", "acc:nan"])
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(ThresholdError):
        MetricThreshold.parse(spec)


def test_semantics_follow_mlflow_metric_threshold() -> None:
    higher = MetricThreshold("acc", 0.01, 0.05, True)
    assert higher.required(0.8) == pytest.approx(0.84)  # the larger margin: 5% of |0.8|
    lower = MetricThreshold("loss", 0.1, None, False)
    assert lower.required(-1.0) == pytest.approx(-1.1)
    assert check(MetricThreshold("acc"), {"acc": 0.9}, {"acc": 0.9}, "v1").passed  # not worse is enough without a margin
    assert not check(MetricThreshold("acc"), {"acc": 0.89}, {"acc": 0.9}, "v1").passed
    missing = check(MetricThreshold("acc"), {}, {"acc": 0.9}, "v1")
    assert not missing.passed and missing.reason == "acc: the candidate's run logged no value"
    assert not check(MetricThreshold("acc"), {"acc": 0.9}, {}, "v1").passed


def test_targets() -> None:
    assert resolve_target("production", stages_supported=True) == Target("stage", "Production")
    assert resolve_target("Staging", stages_supported=True) == Target("stage", "Staging")
    assert resolve_target("production", stages_supported=False) == Target("alias", "production")
    assert resolve_target("@production", stages_supported=True) == Target("alias", "production")
    assert resolve_target("champion", stages_supported=True) == Target("alias", "champion")
    for bad in ("", "@", "a b", "x/y", "v3", "V12", "@v3", "latest", "@Latest", "é-ok?", "a.b", "x" * 256):
        with pytest.raises(PromoteError):
            resolve_target(bad, stages_supported=True)
    assert resolve_target("v3-candidate", stages_supported=True) == Target("alias", "v3-candidate")
