"""Fixtures for the capture plugin's tests: a real SQLite store (copied from one migrated
template per session), a real git repository with a bare origin, and the training script
run as users run it, in a subprocess, so that MLflow loads the installed entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit_helpers import Repo, Store, init_repo

# A training script as teams write it: import what it trains with, start a run, log. The
# plugin is nowhere in it: the entry point must fire on its own.
TRAIN_SCRIPT = """\
import os
import sys

import numpy  # loaded before the run starts, as in real training: threadpoolctl sees its BLAS
import mlflow

{before_run}
with mlflow.start_run() as run:
    mlflow.log_param("lr", "0.1")
print("RUN_ID=" + run.info.run_id)
"""

# Variables of the test process that would change what a run records.
_SCRUBBED = (
    "MLREPRO_CAPTURE", "MLREPRO_SEED", "PYTHONHASHSEED", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_CONTEXT",
)


def _training_script(before_run: str = "") -> str:
    return TRAIN_SCRIPT.format(before_run=before_run)


@dataclass
class Trained:
    run_id: str
    status: str
    tags: dict[str, str]
    stderr: str

    def mlrepro(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if k.startswith("mlrepro.")}


def _run_training(
    store: Store,
    cwd: Path,
    *argv: str,
    env: Mapping[str, str] | None = None,
) -> Trained:
    """``python <argv>`` in ``cwd`` against ``store``; the run as the store recorded it."""
    full = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    full.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"})
    full.update(env or {})
    result = subprocess.run([sys.executable, *argv], cwd=cwd, env=full, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = [line for line in result.stdout.splitlines() if line.startswith("RUN_ID=")][-1].split("=", 1)[1]
    run = store.client.get_run(run_id)
    return Trained(run_id, run.info.status, dict(run.data.tags), result.stderr)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A clean project, committed and pushed: the training script, a pyproject with an
    mlrepro table, MLflow's local files ignored."""
    files = {
        "train.py": _training_script(),
        "pyproject.toml": "[tool.mlrepro]\n",
        ".gitignore": "mlruns/\nmlartifacts/\n__pycache__/\n*.log\n",
    }
    return init_repo(tmp_path, files)


@pytest.fixture
def in_repo(repo: Repo, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    """The test runs in the repository (the policy is read from the working directory) with
    the store as MLflow's tracking URI. MLflow's process-wide state is put back afterwards:
    an explicitly set tracking URI would win over the environment in every later test."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous_uri = tracking_utils._tracking_uri
    monkeypatch.chdir(repo.path)
    # As if started with `python train.py`: MLflow and the capture find the repository from
    # the script (under pytest, sys.argv[0] is pytest's, maybe inside another git checkout).
    monkeypatch.setattr(sys, "argv", [str(repo.path / "train.py")])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    mlflow.set_tracking_uri(store.uri)
    try:
        yield repo
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        tracking_utils._tracking_uri = previous_uri


# Helpers handed to tests as fixtures: a test module cannot import from a conftest reliably
# (every conftest.py is a module named "conftest").


@pytest.fixture
def training_script() -> Callable[..., str]:
    """``training_script(before_run="...")``: the script's text, with code run before the run starts."""
    return _training_script


@pytest.fixture
def run_training() -> Callable[..., Trained]:
    """``run_training(store, cwd, *argv, env=...)``: ``python <argv>`` in ``cwd``, the run it made."""
    return _run_training


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """seed_everything and tracked_run set MLREPRO_SEED and PYTHONHASHSEED in os.environ, as
    they must for child processes: put the environment back so later tests' subprocesses do
    not inherit a seed they never set."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
