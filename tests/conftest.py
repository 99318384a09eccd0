from __future__ import annotations

from typing import TYPE_CHECKING

import sys
from pathlib import Path

import pytest

if TYPE_CHECKING:
    from audit_helpers import Store

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def repo_root() -> Path:
    return ROOT

# Shared test helpers (tests/audit_helpers.py, ...) import as top-level modules from any test
# folder, whatever order pytest collects them in.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite tracking database migrated per session (MLflow's migrations take seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates and migrates
    return path


@pytest.fixture
def store(tmp_path: Path, mlflow_template: Path) -> Store:
    """A real SQLite tracking store of this test's own: a copy of the migrated template."""
    import shutil

    from mlflow import MlflowClient

    from audit_helpers import Store

    path = tmp_path / "mlflow.db"
    shutil.copy(mlflow_template, path)
    uri = f"sqlite:///{path}"
    return Store(uri, path, tmp_path / "artifacts", MlflowClient(tracking_uri=uri, registry_uri=uri))
