"""Fixtures for audit tests. One SQLite tracking database is migrated per session (MLflow's
migrations take seconds) and copied for each test."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_helpers import Repo, Store, git


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates and migrates
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", str(origin))
    result = Repo(path, origin)
    result.commit({"train.py": "print('train')\n", "pyproject.toml": "[tool.mlrepro]\n"}, "initial")
    git(path, "fetch", "-q", "origin")
    return result


@pytest.fixture
def store(tmp_path: Path, mlflow_template: Path) -> Iterator[Store]:
    from mlflow import MlflowClient

    path = tmp_path / "mlflow.db"
    shutil.copy(mlflow_template, path)
    uri = f"sqlite:///{path}"
    yield Store(uri, path, tmp_path / "artifacts", MlflowClient(tracking_uri=uri, registry_uri=uri))


