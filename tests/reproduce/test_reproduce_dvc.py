"""Reproducing a run whose data DVC versions: a real git + DVC repository, a real training
script that reads the DVC-tracked CSV, run for real into a real SQLite store (the capture
plugin records the ``mlrepro.dvc.*`` md5s), then reproduced by the engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from audit_helpers import Repo, Store, dvc, git, init_repo

from mlrepro.reproduce.engine import ReproResult, reproduce_run
from mlrepro.reproduce.trust import Trust
from mlrepro.sources.mlflow_store import MlflowStore

# The metric is a function of the data alone: other data, another number.
TRAIN = """\
import csv

import mlflow

with open("data/train.csv") as f:
    rows = [float(r["x"]) for r in csv.DictReader(f)]
with mlflow.start_run():
    mlflow.log_param("seed", 7)
    mlflow.log_metric("mean_x", sum(rows) / len(rows))
"""
OLD = "x\n1\n2\n3\n"
NEW = "x\n10\n20\n30\n"
TAG = "mlrepro.dvc.data/train.csv"


def env_for(store: Store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT", "PYTHONHASHSEED"))}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"})
    return env


def train(store: Store, repo: Repo) -> str:
    done = subprocess.run([sys.executable, "train.py"], check=False, cwd=repo.path, env=env_for(store), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = store.client.search_runs([e.experiment_id for e in store.client.search_experiments()], order_by=["attributes.start_time DESC"], max_results=1)
    return str(run.info.run_id)


def dvc_project(tmp_path: Path) -> Repo:
    repo = init_repo(tmp_path, {"train.py": TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})
    dvc(repo.path, "init", "-q")
    set_data(repo, OLD)
    repo.commit({}, "data v1", push=False)
    return repo


def set_data(repo: Repo, text: str) -> str:
    (repo.path / "data").mkdir(exist_ok=True)
    (repo.path / "data" / "train.csv").write_text(text)
    dvc(repo.path, "add", "-q", "data/train.csv")
    return str(yaml.safe_load((repo.path / "data" / "train.csv.dvc").read_text())["outs"][0]["md5"])


def reproduce(store: Store, repo: Repo, run_id: str, trust: Trust = Trust()) -> ReproResult:
    return reproduce_run(MlflowStore.open(store.uri, writable=True), run_id, repo.path, timeout=300, trust=trust)


def test_the_runs_data_version_is_checked_out_from_the_users_cache(tmp_path: Path, store: Store) -> None:
    repo = dvc_project(tmp_path)
    old_md5 = yaml.safe_load((repo.path / "data" / "train.csv.dvc").read_text())["outs"][0]["md5"]
    run_id = train(store, repo)
    assert store.client.get_run(run_id).data.tags[TAG] == old_md5
    set_data(repo, NEW)
    repo.commit({}, "data v2", push=False)  # HEAD now versions other data

    result = reproduce(store, repo, run_id)
    assert result.verdict == "identical", result.notes
    assert result.attempts[-1].metrics["mean_x"] == 2.0
    assert result.data_match is True
    assert not [n for n in result.notes if n.startswith("DVC")], result.notes
    assert (repo.path / "data" / "train.csv").read_text() == NEW, "the user's checkout is untouched"
    assert git(repo.path, "status", "--porcelain") == ""


def test_an_uncommitted_dvc_add_comes_back_through_the_recorded_diff(tmp_path: Path, store: Store) -> None:
    repo = dvc_project(tmp_path)
    new_md5 = set_data(repo, NEW)  # added, not committed: the run trains on it
    run_id = train(store, repo)
    assert store.client.get_run(run_id).data.tags[TAG] == new_md5
    set_data(repo, OLD)  # the working tree back to the commit's data

    result = reproduce(store, repo, run_id, Trust(apply_diff=True))
    assert result.patch_applied
    assert (result.verdict, result.data_match) == ("identical", True), result.notes
    assert result.attempts[-1].metrics["mean_x"] == 20.0


def test_recorded_data_the_commit_cannot_restore_is_reported(tmp_path: Path, store: Store) -> None:
    repo = dvc_project(tmp_path)
    old_md5 = yaml.safe_load((repo.path / "data" / "train.csv.dvc").read_text())["outs"][0]["md5"]
    run_id = train(store, repo)
    # The run says it trained on data this commit does not version (md5 of other content).
    other = "0123456789abcdef0123456789abcdef"
    store.client.set_tag(run_id, TAG, other)

    result = reproduce(store, repo, run_id)
    assert result.data_match is False
    [note] = [n for n in result.notes if "data/train.csv differs" in n]
    assert other in note and old_md5 in note
    assert result.verdict == "identical", "the commit's data is restored and the script runs as before"


def test_data_missing_from_the_cache_is_reported_as_not_restored(tmp_path: Path, store: Store) -> None:
    repo = dvc_project(tmp_path)
    run_id = train(store, repo)
    shutil.rmtree(repo.path / ".dvc" / "cache")  # no local copy, and no remote configured

    result = reproduce(store, repo, run_id)
    assert result.data_match is False
    assert any("data not restored" in n for n in result.notes), result.notes
    assert result.verdict == "failed", "the script finds no data/train.csv in the worktree"
