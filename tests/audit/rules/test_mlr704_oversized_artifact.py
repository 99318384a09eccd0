from __future__ import annotations

from typing import Any

import pytest
from audit_helpers import Repo, Store, audit_json, codes_by_run

LIMITS = "[tool.mlrepro.audit]\nmax-artifact-mb = 0.001\n"  # 1,048 bytes


def _model_run(store: Store, monkeypatch: pytest.MonkeyPatch, metrics: dict[str, float]) -> tuple[str, str]:
    """A run that logs a real MLflow 3 model (its files live under models/m-<id>/, not in the run)."""
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: list[str]) -> list[str]:
            return model_input

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)  # restored after the test, as is the URI below
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store.uri)
    try:
        with mlflow.start_run(experiment_id=store.experiment(), run_name="echo-model") as run:
            info = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
            if metrics:
                mlflow.log_metrics(metrics)
    finally:
        mlflow.set_tracking_uri(previous)
    return run.info.run_id, info.model_id


def test_large_files_are_reported_one_by_one(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text(LIMITS)
    good = store.good_run(repo, artifacts={"notes.txt": b"small"})
    big = store.good_run(repo, artifacts={"data/train.bin": b"x" * 4000, "ckpt/epoch1.pt": b"y" * 2000, "notes.txt": b"ok"})
    code, findings = audit_json(store, repo.path, "--select", "MLR704")
    assert code == 1
    assert codes_by_run(findings) == {big: {"MLR704"}}
    assert sorted(f["message"] for f in findings) == [
        "artifact ckpt/epoch1.pt is 0.00191 MB, over the 0.001 MB limit (`max-artifact-mb`): "
        "data or checkpoints stored as artifacts bloat the store and are not versioned",
        "artifact data/train.bin is 0.00381 MB, over the 0.001 MB limit (`max-artifact-mb`): "
        "data or checkpoints stored as artifacts bloat the store and are not versioned",
    ]
    assert good not in codes_by_run(findings)


def test_silent_when_artifacts_are_not_listed(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text(LIMITS)
    store.good_run(repo, artifacts={"data/train.bin": b"x" * 4000})
    code, findings = audit_json(store, repo.path, "--select", "MLR704", "--no-artifacts")
    assert (code, findings) == (0, [])


def test_logged_model_files_count(store: Store, repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo.path / "pyproject.toml").write_text("[tool.mlrepro.audit]\nmax-artifact-mb = 0.0005\n")  # 524 bytes
    run_id, model_id = _model_run(store, monkeypatch, {"accuracy": 0.9})
    code, findings = audit_json(store, repo.path, "--select", "MLR704")
    assert code == 1 and codes_by_run(findings) == {run_id: {"MLR704"}}
    # MLmodel and the pickled model are over 524 bytes; requirements.txt is not.
    files = {f["message"].split(" is ")[0] for f in findings}
    assert {f"logged model {model_id} file MLmodel", f"logged model {model_id} file python_model.pkl"} <= files
    assert f"logged model {model_id} file requirements.txt" not in files
