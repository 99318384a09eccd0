from __future__ import annotations

import json
from pathlib import Path

from audit_helpers import Repo, Store, audit_json, codes_by_run

NO_FREEZE = {"mlrepro.pip_freeze_sha256": ""}


def test_run_without_environment_is_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    bare = store.good_run(repo, tags=NO_FREEZE, artifacts={"plots/roc.png": b"png"})
    code, findings = audit_json(store, repo.path, "--select", "MLR507")
    assert code == 1
    assert codes_by_run(findings) == {bare: {"MLR507"}}
    assert findings[0]["severity"] == "warning"
    assert findings[0]["message"] == (
        "no environment recorded (no mlrepro.pip_freeze_sha256 tag, no lock file in the commit, no requirements.txt, "
        "conda.yaml or python_env.yaml among the run's or its models' artifacts): a re-run may install different package versions"
    )
    assert good not in codes_by_run(findings)


def test_environment_files_tags_and_lock_files_count(store: Store, repo: Repo, tmp_path: Path) -> None:
    store.good_run(repo, tags=NO_FREEZE, artifacts={"model/requirements.txt": b"numpy==2.1.0\n"})  # MLflow 2 model
    store.good_run(repo, tags=NO_FREEZE, artifacts={"mlrepro/requirements.lock.txt": b"numpy==2.1.0\n"})
    store.good_run(repo, tags={**NO_FREEZE, "mlflow.docker.image.id": "sha256:" + "a" * 64})
    store.good_run(repo, tags={**NO_FREEZE, "mlflow.source.type": "PROJECT", "mlflow.project.env": "virtualenv"})
    # An MLflow 3 logged model: its files live outside the run's artifacts.
    from mlflow.entities import LoggedModelOutput

    with_model = store.good_run(repo, tags=NO_FREEZE)
    model = store.client.create_logged_model(store.experiment(), name="rf", source_run_id=with_model)
    files = tmp_path / "model"
    files.mkdir()
    (files / "python_env.yaml").write_text("python: 3.11\n")
    (files / "MLmodel").write_text("flavors: {}\n")
    store.client.log_model_artifacts(model.model_id, str(files))
    store.client.log_outputs(with_model, [LoggedModelOutput(model.model_id, 0)])
    code, findings = audit_json(store, repo.path, "--select", "MLR507")
    assert (code, findings) == (0, [])

    bare = store.good_run(repo, tags=NO_FREEZE)
    assert codes_by_run(audit_json(store, repo.path, "--select", "MLR507")[1]) == {bare: {"MLR507"}}
    repo.commit({"uv.lock": "version = 1\n"}, "lock")
    locked = store.good_run(repo, tags=NO_FREEZE)
    code, findings = audit_json(store, repo.path, "--select", "MLR507")
    assert codes_by_run(findings) == {bare: {"MLR507"}}
    assert locked not in codes_by_run(findings)


def test_quiet_when_artifacts_are_not_listed(store: Store, repo: Repo) -> None:
    store.good_run(repo, tags=NO_FREEZE, datasets=[("train", "a1b2c3d4", "local", json.dumps({"uri": "data/train.csv"}))])
    code, findings = audit_json(store, repo.path, "--select", "MLR507", "--no-artifacts")
    assert (code, findings) == (0, [])
