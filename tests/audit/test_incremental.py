from __future__ import annotations

import time
from pathlib import Path

import pytest

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_incremental_audits_only_what_changed(store: Store, repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLREPRO_CACHE_DIR", str(tmp_path / "cache"))
    hour_ago = int(time.time() * 1000) - 3_600_000
    old = store.run(name="old-finished", start_time=hour_ago)  # ended 59 minutes ago
    still_running = store.run(name="still-running", status="RUNNING", start_time=hour_ago)
    _, first = audit_json(store, repo.path, "--incremental", "--select", "MLR701")
    assert set(codes_by_run(first)) == {old, still_running}, "the first incremental audit is a full one"
    assert len(list((tmp_path / "cache").glob("audit-*.json"))) == 1

    time.sleep(0.01)
    new = store.run(name="new-after-audit")
    _, second = audit_json(store, repo.path, "--incremental", "--select", "MLR701")
    assert set(codes_by_run(second)) == {new, still_running}

    # A plain audit still sees everything, and --since with --incremental is a usage error.
    _, full = audit_json(store, repo.path, "--select", "MLR701")
    assert set(codes_by_run(full)) == {old, still_running, new}
    code, _ = audit_json(store, repo.path, "--incremental", "--since", "2026-01-01")
    assert code == 2


def test_state_is_keyed_by_the_redacted_uri(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from mlrepro.audit.state import load_state, save_state

    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    path = save_state("http://alice:s3cret@tracking:5000", when, tmp_path)
    assert "s3cret" not in path.read_text()
    state = load_state("http://alice:s3cret@tracking:5000", tmp_path)
    assert state is not None and state.last_started == when
    assert load_state("http://other:5000", tmp_path) is None
    path.write_text("{not json")
    assert load_state("http://alice:s3cret@tracking:5000", tmp_path) is None


def test_two_projects_with_the_same_relative_uri_keep_their_own_state(tmp_path: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import shutil

    from mlflow import MlflowClient

    monkeypatch.setenv("MLREPRO_CACHE_DIR", str(tmp_path / "cache"))
    hour_ago = int(time.time() * 1000) - 3_600_000  # ended long before either audit
    projects: dict[str, tuple[Path, Store, str]] = {}
    for name in ("fraud", "churn"):
        directory = tmp_path / name
        directory.mkdir()
        shutil.copy(mlflow_template, directory / "mlflow.db")
        uri = f"sqlite:///{directory / 'mlflow.db'}"
        store = Store(uri, directory / "mlflow.db", directory / "artifacts", MlflowClient(tracking_uri=uri, registry_uri=uri))
        run_id = store.run(name=f"{name}-baseline", start_time=hour_ago)
        # Both projects use MLflow's default, `sqlite:///mlflow.db`: the same text, two stores.
        projects[name] = (directory, dataclasses.replace(store, uri="sqlite:///mlflow.db"), run_id)
    for directory, relative, run_id in projects.values():
        _, findings = audit_json(relative, directory, "--incremental", "--select", "MLR701")
        assert set(codes_by_run(findings)) == {run_id}, "each project's first incremental audit is a full one"
    assert len(list((tmp_path / "cache").glob("audit-*.json"))) == 2
    directory, relative, _ = projects["fraud"]
    _, again = audit_json(relative, directory, "--incremental", "--select", "MLR701")
    assert again == [], "nothing changed in that store since its own last audit"
