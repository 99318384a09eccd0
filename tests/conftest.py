from __future__ import annotations

from typing import TYPE_CHECKING

import os
import sys
from collections.abc import Iterator
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


# What MLflow leaves in the current directory when nobody says where to write (its default
# tracking database and artifact root): a test must never leave them in the checkout.
_TRACES = ("mlruns", "mlflow.db", "mlartifacts")


def _traces() -> set[str]:
    found = set()
    for name in _TRACES:
        path = ROOT / name
        if path.exists():
            found.add(name)
            if path.is_dir():
                found.update(f"{name}/{p.relative_to(path)}" for p in path.rglob("*"))
    return found


@pytest.fixture(autouse=True)
def _no_traces_in_the_checkout() -> Iterator[None]:
    """Fail the test that left ./mlruns, ./mlflow.db or ./mlartifacts (or added to them) in the
    checkout: they would be mistaken for the developer's own, and the next test could read them."""
    before = _traces()
    yield
    added = sorted(_traces() - before)
    if added:
        pytest.fail(f"the test left MLflow files in the checkout {ROOT}: {', '.join(added[:5])}; give MLflow a tmp_path (or monkeypatch.chdir)")


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_in_pytests_own_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Whatever the code under test puts in the temporary directory (W&B reproductions keep
    their ``mlrepro-wandb-*`` output for the user on purpose; git worktrees; MLflow's locks)
    goes under pytest's base directory, which pytest prunes, not into /tmp, where it stays.
    TMPDIR reaches the subprocesses too."""
    import tempfile

    scratch = tmp_path_factory.mktemp("tmpdir")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(scratch))
        patch.setattr(tempfile, "tempdir", str(scratch))
        yield


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite tracking database migrated per session (MLflow's migrations take seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    # MLflow puts the Default experiment's artifacts under the current directory: not the checkout.
    previous = Path.cwd()
    os.chdir(path.parent)
    try:
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates and migrates
    finally:
        os.chdir(previous)
    return path


@pytest.fixture
def store(tmp_path: Path, mlflow_template: Path) -> Store:
    """A real SQLite tracking store of this test's own: a copy of the migrated template, whose
    Default experiment (id 0) keeps its artifacts in this test's tmp_path (MLflow put them
    under the current directory, the checkout, when it made the template)."""
    import shutil
    import sqlite3

    from mlflow import MlflowClient

    from audit_helpers import Store

    path = tmp_path / "mlflow.db"
    shutil.copy(mlflow_template, path)
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", ((tmp_path / "mlruns" / "0").as_uri(),))
    finally:
        conn.close()
    uri = f"sqlite:///{path}"
    # MLflow fixes a store's default artifact root (./mlruns, for experiments created without
    # one) against the current directory when it first opens the store, and keeps that store
    # for the URI: open it from tmp_path, not from the checkout.
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        os.chdir(previous)
    return Store(uri, path, tmp_path / "artifacts", client)
