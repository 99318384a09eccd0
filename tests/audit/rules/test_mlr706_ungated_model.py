from __future__ import annotations

from typing import Any

import pytest
from audit_helpers import Repo, Store, audit_json, codes_by_run


def _model_run(store: Store, monkeypatch: pytest.MonkeyPatch, metrics: dict[str, float]) -> str:
    """A run that logs a real MLflow 3 model through the fluent API, as training code does."""
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: list[str]) -> list[str]:
            return model_input

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)  # restored after the test, as is the URI below
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store.uri)
    try:
        with mlflow.start_run(experiment_id=store.experiment(), run_name="echo-model") as run:
            mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
            if metrics:
                mlflow.log_metrics(metrics)
    finally:
        mlflow.set_tracking_uri(previous)
    return run.info.run_id


def test_model_logged_without_any_metric_is_reported(store: Store, repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    good = store.good_run(repo)
    ungated = _model_run(store, monkeypatch, {})
    gated = _model_run(store, monkeypatch, {"val_auc": 0.8})
    # MLflow 2 style: no logged model entity, only the history tag.
    legacy = store.good_run(repo, metrics={}, tags={"mlflow.log-model.history": "[]"})
    code, findings = audit_json(store, repo.path, "--select", "MLR706")
    assert code == 1
    assert codes_by_run(findings) == {ungated: {"MLR706"}, legacy: {"MLR706"}}
    assert findings[0]["message"] == (
        "logged a model but no metrics: nothing shows it was evaluated before it could be registered or deployed"
    )
    assert good not in codes_by_run(findings) and gated not in codes_by_run(findings)
