"""Runs started with interpreter options (`python -um pkg.train`, `python -Xutf8 -m ...`,
`python -c ...`): the capture plugin records the options as typed, and `mlrepro reproduce`
replays them; a `-c` program is not code of the repository and runs only with --allow-command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from audit_helpers import Store, init_repo
from training_helpers import latest_run_id, reproduce_json, training_env

from mlrepro.capture.collect import invocation

# A relative import: the module runs only as `-m pkg.train`, never as the script pkg/train.py.
TRAIN = """\
import sys

import mlflow
import numpy as np

from .settings import SEED

with mlflow.start_run():
    mlflow.log_param("seed", SEED)
    mlflow.log_metric("score", float(np.random.default_rng(SEED).normal()))
    mlflow.log_metric("unbuffered", float(sys.stdout.write_through))  # python -u
    mlflow.log_metric("utf8_mode", float(sys.flags.utf8_mode))
    mlflow.log_metric("args", float(len(sys.argv) - 1))
"""

PROGRAM = """\
import sys
import mlflow
with mlflow.start_run():
    mlflow.log_param("seed", 3)
    mlflow.log_metric("args", float(len(sys.argv) - 1))
"""


def module_project(tmp_path: Path):
    return init_repo(tmp_path, {"pkg/__init__.py": "", "pkg/settings.py": "SEED = 5\n", "pkg/train.py": TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n"})


@pytest.mark.parametrize(
    ("typed", "recorded"),
    [
        (["-um", "pkg.train"], ["-u", "-m", "pkg.train"]),
        (["-u", "-m", "pkg.train"], ["-u", "-m", "pkg.train"]),
        (["-Xutf8", "-m", "pkg.train"], ["-X", "utf8", "-m", "pkg.train"]),
    ],
)
def test_python_options_before_dash_m_are_recorded_and_replayed(tmp_path: Path, store: Store, typed: list[str], recorded: list[str]) -> None:
    repo = module_project(tmp_path)
    done = subprocess.run([sys.executable, *typed, "--n", "2"], cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = latest_run_id(store)
    run = store.client.get_run(run_id)
    assert json.loads(run.data.tags["mlrepro.command"]) == ["python", *recorded, "--n", "2"]

    code, result, _ = reproduce_json(store, repo, run_id)
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["command"] == [sys.executable, *recorded, "--n", "2"]
    [new_id] = result["reproduction_run_ids"]
    assert store.client.get_run(new_id).data.metrics == run.data.metrics


def test_a_python_dash_c_run_is_replayed_only_with_allow_command(tmp_path: Path, store: Store) -> None:
    repo = init_repo(tmp_path, {"README.md": "no scripts here\n", ".gitignore": "mlruns/\nmlartifacts/\n"})
    done = subprocess.run([sys.executable, "-u", "-c", PROGRAM, "x"], cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = latest_run_id(store)
    assert json.loads(store.client.get_run(run_id).data.tags["mlrepro.command"]) == ["python", "-u", "-c", PROGRAM, "x"]

    code, result, _ = reproduce_json(store, repo, run_id)
    assert (code, result["verdict"], result["reproduction_run_ids"]) == (1, "failed", []), result
    assert "--allow-command" in result["notes"][0]
    code, result, _ = reproduce_json(store, repo, run_id, "--allow-command")
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["command"] == [sys.executable, "-u", "-c", PROGRAM, "x"]


@pytest.mark.parametrize(
    ("orig_argv", "argv", "recorded"),
    [
        (["python3", "-um", "pkg.train", "a"], ["/r/pkg/train.py", "a"], ["python", "-u", "-m", "pkg.train", "a"]),
        (["python3", "-Bmpkg.train"], ["/r/pkg/train.py"], ["python", "-B", "-m", "pkg.train"]),
        (["python3", "-X", "importtime", "-W", "error", "-m", "pkg"], ["/r/pkg/__main__.py"], ["python", "-X", "importtime", "-W", "error", "-m", "pkg"]),
        (["python3", "-I", "-c", "print(1)", "a"], ["-c", "a"], ["python", "-I", "-c", "print(1)", "a"]),
        (["python3", "-Ic", "print(1)"], ["-c"], ["python", "-I", "-c", "print(1)"]),
        # argv changed by the code since: what Python made of the command line is gone.
        (["python3", "-um", "pkg.train"], ["other.py"], ["other.py"]),
        (["python3", "-u", "train.py"], ["train.py"], ["train.py"]),
    ],
)
def test_every_option_form_is_recorded_as_separate_items(orig_argv: list[str], argv: list[str], recorded: list[str]) -> None:
    assert invocation(argv, orig_argv) == recorded
