"""Capture for runs a process resumes rather than starts: ``mlflow run`` creates the run in its
own process and the entry point resumes it through ``MLFLOW_RUN_ID``. Run for real: `mlflow
run` on a real repository into a real SQLite store, the plugin loaded from its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from audit_helpers import Repo, Store, audit_json, findings_of, git, init_repo, raw_git
from mlrepro.capture.collect import decode_diff

MLPROJECT = """\
name: resumed
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
    command: "python train.py --alpha {alpha}"
"""

TRAIN = """\
import sys

import mlflow

with mlflow.start_run():
    mlflow.log_metric("alpha", float(sys.argv[2]))
"""

# A run started (and captured) by one process, then resumed by another, as a job restarted
# from a checkpoint does: the start is what the capture describes.
START = """\
import mlflow

with mlflow.start_run() as run:
    mlflow.log_param("lr", "0.1")
print("RUN_ID=" + run.info.run_id)
"""

RESUME = """\
import mlflow

with mlflow.start_run():
    mlflow.log_metric("resumed", 1.0)
"""


def _env(store: Store, **extra: str) -> dict[str, str]:
    scrubbed = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT", "MLREPRO_", "PYTHONHASHSEED", "OMP_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"})
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # the MLproject's `python`
    env.update(extra)
    return env


def _mlflow_run(repo: Repo, store: Store, **env: str) -> Any:
    made = subprocess.run(
        [sys.executable, "-m", "mlflow", "run", ".", "--env-manager", "local", "-P", "alpha=0.25", "--experiment-name", "x"],
        check=False, cwd=repo.path, env=_env(store, **env), capture_output=True, text=True, timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    assert "mlrepro could not" not in made.stderr, made.stderr
    [run] = store.client.search_runs([store.client.get_experiment_by_name("x").experiment_id])
    return run


def _project(tmp_path: Path) -> Repo:
    return init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n"})


def test_a_project_run_from_a_dirty_tree_gets_its_diff_and_environment_captured(tmp_path: Path, store: Store) -> None:
    repo = _project(tmp_path)
    with (repo.path / "train.py").open("a") as handle:
        handle.write("# an edit that was never committed\n")
    run = _mlflow_run(repo, store, OMP_NUM_THREADS="3")
    tags = run.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"  # created by `mlflow run`, resumed by train.py
    head = git(repo.path, "rev-parse", "HEAD")
    assert tags["mlrepro.git.commit"] == head and tags["mlrepro.git.dirty"] == "true"
    assert decode_diff(tags) == raw_git(repo.path, "diff", "HEAD", "--binary")
    assert tags["mlrepro.threads.OMP_NUM_THREADS"] == "3"
    assert tags["mlrepro.command"] == '["train.py", "--alpha", "0.25"]'
    for key in ("mlrepro.pip_freeze_sha256", "mlrepro.pythonhashseed", "mlrepro.python", "mlrepro.capture_version"):
        assert tags[key], key

    code, findings = audit_json(store, repo.path, "--select", "MLR504")
    (finding,) = findings_of(findings, "MLR504")
    assert code == 1 and finding["run_id"] == run.info.run_id
    assert f"uncommitted changes on top of commit {head[:12]}" in finding["message"]


def test_a_clean_project_run_is_captured_clean_and_switching_capture_off_still_works(tmp_path: Path, store: Store) -> None:
    repo = _project(tmp_path)
    tags = _mlflow_run(repo, store).data.tags
    assert tags["mlrepro.git.dirty"] == "false" and "mlrepro.git.diff.0" not in tags

    made = subprocess.run(
        [sys.executable, "-m", "mlflow", "run", ".", "--env-manager", "local", "--experiment-name", "off"],
        check=False, cwd=repo.path, env=_env(store, MLREPRO_CAPTURE="0"), capture_output=True, text=True, timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    [run] = store.client.search_runs([store.client.get_experiment_by_name("off").experiment_id])
    assert not [key for key in run.data.tags if key.startswith("mlrepro.")]


def test_a_resumed_run_keeps_what_was_captured_when_it_started(tmp_path: Path, store: Store) -> None:
    repo = init_repo(tmp_path, {"start.py": START, "resume.py": RESUME, ".gitignore": "mlruns/\nmlartifacts/\n"})
    started = subprocess.run(
        [sys.executable, "start.py"], check=False, cwd=repo.path, env=_env(store, OMP_NUM_THREADS="1"),
        capture_output=True, text=True, timeout=240,
    )
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split("RUN_ID=")[1].strip()
    assert store.client.get_run(run_id).data.tags["mlrepro.threads.OMP_NUM_THREADS"] == "1"

    resumed = subprocess.run(
        [sys.executable, "resume.py"], check=False, cwd=repo.path, env=_env(store, OMP_NUM_THREADS="4", MLFLOW_RUN_ID=run_id),
        capture_output=True, text=True, timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr
    run = store.client.get_run(run_id)
    assert run.data.metrics["resumed"] == 1.0  # it did resume this run
    assert run.data.tags["mlrepro.threads.OMP_NUM_THREADS"] == "1"
    assert run.data.tags["mlrepro.command"] == '["start.py"]'


def test_mlrepros_own_commands_leave_a_run_named_in_the_shell_alone(tmp_path: Path, store: Store) -> None:
    """A stale MLFLOW_RUN_ID in the shell: `mlrepro audit` imports MLflow but must not write."""
    repo = _project(tmp_path)
    run = store.client.create_run(store.client.create_experiment("stale"))
    audited = subprocess.run(
        [sys.executable, "-m", "mlrepro", "audit", "--tracking-uri", store.uri, "--quiet"],
        check=False, cwd=repo.path, env=_env(store, MLFLOW_RUN_ID=run.info.run_id), capture_output=True, text=True, timeout=240,
    )
    assert audited.returncode in (0, 1), audited.stderr
    assert not [key for key in store.client.get_run(run.info.run_id).data.tags if key.startswith("mlrepro.")]
