"""`mlrepro reproduce` of a run made by MLflow Projects for real: `mlflow run` on a committed,
pushed repository with an ``MLproject`` file, then the real CLI re-executes it in a fresh
process from the entry point the run's tags name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from audit_helpers import Repo, Store, git, init_repo

MLPROJECT = """\
name: demo
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      seed: {type: int, default: 1}
    command: "python train.py --alpha {alpha} --seed {seed}"
"""

# MLflow Projects logs the parameters itself: the script only logs metrics, as such scripts
# usually do. It prints its argv so that the test sees what the process really received.
TRAIN = """\
import argparse
import sys

import mlflow
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", required=True)
parser.add_argument("--seed", type=int, required=True)
args = parser.parse_args()
print("ARGV", sys.argv[1:])
noise = np.random.default_rng(args.seed).normal(0, 1, 1000)
with mlflow.start_run():
    mlflow.log_metric("loss", float(np.mean((noise * float(args.alpha)) ** 2)))
    mlflow.log_metric("alpha_seen", float(args.alpha))
"""


def env_for(store: Store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT", "PYTHONHASHSEED"))}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"})
    # The MLproject says `python`: make that the interpreter that has mlflow and numpy.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def mlflow_run(repo: Repo, store: Store, *args: str) -> Any:
    """``mlflow run .`` for real (local environment) into ``store``; the one run it made."""
    made = subprocess.run(
        [sys.executable, "-m", "mlflow", "run", ".", "--env-manager", "local", *args, "--experiment-name", "x"],
        check=False, cwd=repo.path, env=env_for(store), capture_output=True, text=True, timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    [run] = store.client.search_runs([store.client.get_experiment_by_name("x").experiment_id])
    return run


def reproduce(repo: Repo, store: Store, run_id: str, *options: str, **env: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", run_id, "--tracking-uri", store.uri, "--output-format", "json", *options],
        check=False, cwd=repo.path, env={**env_for(store), **env}, capture_output=True, text=True, timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)



def test_a_run_made_by_mlflow_run_comes_back_identical_with_its_logged_strings(tmp_path: Path, store: Store) -> None:
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n"})
    run = mlflow_run(repo, store, "-e", "main", "-P", "alpha=.1", "-P", "seed=3")
    run_id = str(run.info.run_id)
    # What MLflow Projects recorded, not what this test wrote: the premise of the test.
    assert run.data.tags["mlflow.project.entryPoint"] == "main"
    assert run.data.tags["mlflow.source.type"] == "PROJECT"
    assert run.data.tags["mlflow.source.git.commit"] == git(repo.path, "rev-parse", "HEAD")
    assert run.data.params == {"alpha": ".1", "seed": "3"}
    assert run.data.metrics["alpha_seen"] == 0.1

    code, result = reproduce(repo, store, run_id)
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["params_match"] is True, result["differences"]
    assert result["code"]["entry_point"] == "mlproject"
    assert result["code"]["commit"] == git(repo.path, "rev-parse", "HEAD")
    # The logged string, as one argument: not 0.1, not the 0.5 default, not a shell string.
    command = result["command"]
    assert command[1:] == ["train.py", "--alpha", ".1", "--seed", "3"], command
    assert "ARGV ['--alpha', '.1', '--seed', '3']" in result["log_tail"]
    [new_id] = result["reproduction_run_ids"]
    reproduction = store.client.get_run(new_id)
    assert reproduction.info.experiment_id == run.info.experiment_id
    assert reproduction.data.tags["mlrepro.reproduces"] == run_id
    assert reproduction.data.metrics == run.data.metrics
    assert [line for line in git(repo.path, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")] == [f"worktree {repo.path}"]
    assert git(repo.path, "status", "--porcelain") == ""


# The shape of MLflow's own examples: a command continued over several lines with `\`, and
# string parameters that MLflow shell-quotes before it logs them (an empty one is logged `''`).
MULTILINE_MLPROJECT = """\
name: multiline
entry_points:
  main:
    parameters:
      seed: {type: int, default: 7}
      model_name: {type: string, default: ""}
      label: {type: string, default: "two words"}
    command: |
      python train.py \\
        --seed {seed} \\
        --model-name {model_name} \\
        --label {label}
"""

MULTILINE_TRAIN = """\
import argparse
import sys

import mlflow
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--model-name", required=True)
parser.add_argument("--label", required=True)
args = parser.parse_args()
print("ARGV", sys.argv[1:])
with mlflow.start_run():
    mlflow.log_metric("score", float(np.random.default_rng(args.seed).normal()))
    mlflow.log_metric("name_length", len(args.model_name))
    mlflow.log_metric("label_words", len(args.label.split()))
"""


def test_a_multiline_command_with_quoted_and_empty_parameters_comes_back_identical(tmp_path: Path, store: Store) -> None:
    repo = init_repo(tmp_path, {"MLproject": MULTILINE_MLPROJECT, "train.py": MULTILINE_TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n"})
    run = mlflow_run(repo, store, "-P", "model_name=", "-P", "label=red green blue")
    run_id = str(run.info.run_id)
    # The premise: MLflow logged the values shell-quoted, and the script saw them unquoted.
    assert run.data.params == {"seed": "7", "model_name": "''", "label": "'red green blue'"}
    assert (run.data.metrics["name_length"], run.data.metrics["label_words"]) == (0, 3)

    code, result = reproduce(repo, store, run_id)
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["code"]["entry_point"] == "mlproject"
    assert result["command"][1:] == ["train.py", "--seed", "7", "--model-name", "", "--label", "red green blue"], result["command"]
    [new_id] = result["reproduction_run_ids"]
    assert store.client.get_run(new_id).data.metrics == run.data.metrics


def test_params_match_only_what_the_re_run_logged_itself(tmp_path: Path, store: Store) -> None:
    """MLflow Projects' launcher logs the parameters before the code starts; a re-run whose code
    died before logging anything must not "match" on params we copied ourselves."""
    dies = TRAIN.replace("import sys\n", "import os\nimport sys\n\nif os.environ.get('DIE_BEFORE_LOGGING'):\n    sys.exit(3)\n", 1)
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": dies, ".gitignore": "mlruns/\nmlartifacts/\n"})
    run = mlflow_run(repo, store, "-e", "main", "-P", "alpha=.1", "-P", "seed=3")
    code, result = reproduce(repo, store, str(run.info.run_id), DIE_BEFORE_LOGGING="1")
    assert (code, result["verdict"]) == (1, "failed"), result
    assert result["params_match"] is False, result
    # The reproduction run still carries the parameters it was launched with, as `mlflow run` leaves them.
    [new_id] = result["reproduction_run_ids"]
    assert store.client.get_run(new_id).data.params == {"alpha": ".1", "seed": "3"}


def test_the_reproduction_is_captured_too_and_the_environment_diff_names_what_changed(tmp_path: Path, store: Store) -> None:
    """Both runs are resumed by their entry point (`mlflow run` and `mlrepro reproduce` create
    them): both carry the capture's environment, so the comparison is like with like and names
    a real change (here one more distribution installed when the original ran)."""
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n"})
    extra = tmp_path / "site-extra" / "mlrepro_probe_pkg-1.0.dist-info"
    extra.mkdir(parents=True)
    (extra / "METADATA").write_text("Metadata-Version: 2.1\nName: mlrepro-probe-pkg\nVersion: 1.0\n")
    original = subprocess.run(
        [sys.executable, "-m", "mlflow", "run", ".", "--env-manager", "local", "-P", "seed=3", "--experiment-name", "x"],
        check=False, cwd=repo.path, env={**env_for(store), "PYTHONPATH": str(extra.parent)}, capture_output=True, text=True, timeout=300,
    )
    assert original.returncode == 0, original.stderr[-3000:]
    [run] = store.client.search_runs([store.client.get_experiment_by_name("x").experiment_id])
    assert run.data.tags["mlrepro.git.dirty"] == "false"

    code, result = reproduce(repo, store, str(run.info.run_id))
    assert (code, result["verdict"]) == (0, "identical"), result
    [new_id] = result["reproduction_run_ids"]
    reproduction = store.client.get_run(new_id).data.tags
    for key in ("mlrepro.capture_version", "mlrepro.pythonhashseed", "mlrepro.threads.OMP_NUM_THREADS", "mlrepro.python"):
        assert reproduction[key] == run.data.tags[key], key
    assert reproduction["mlrepro.git.commit"] == run.data.tags["mlrepro.git.commit"]
    assert [line for line in result["differences"] if "environment" in line] == [
        f"environment.mlrepro.pip_freeze_sha256 changed: '{run.data.tags['mlrepro.pip_freeze_sha256']}' -> '{reproduction['mlrepro.pip_freeze_sha256']}'"
    ], result["differences"]


VENV_MLPROJECT = """\
name: venv
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      seed: {type: int, default: 1}
      label: {type: string, default: "two words"}
    command: "python train.py --seed {seed} --label {label}"
"""

VENV_TRAIN = """\
import argparse
import sys

import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--label", required=True)
args = parser.parse_args()
with mlflow.start_run():
    mlflow.set_tag("interpreter", sys.prefix)
    mlflow.log_metric("score", args.seed * 0.5 + len(args.label))
"""


def _python_env() -> str:
    """The project's environment: this Python, and what its code needs to log to a SQLite store."""
    import platform
    from importlib import metadata

    pins = "".join(f"  - {name}=={metadata.version(name)}\n" for name in ("mlflow-skinny", "sqlalchemy", "alembic"))
    return f'python: "{platform.python_version()}"\nbuild_dependencies:\n  - pip\ndependencies:\n{pins}'


@pytest.mark.skipif(shutil.which("pyenv") is None, reason="MLflow's virtualenv manager installs the project's Python with pyenv")
def test_env_manager_virtualenv_re_executes_the_project_in_the_environment_mlflow_builds(
    tmp_path: Path, store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = {"MLproject": VENV_MLPROJECT, "train.py": VENV_TRAIN, "python_env.yaml": _python_env(), ".gitignore": "mlruns/\nmlartifacts/\n"}
    repo = init_repo(tmp_path, files)
    run = mlflow_run(repo, store, "-P", "seed=4", "-P", "label=red green")
    assert run.data.tags["interpreter"] == sys.prefix  # the original ran here (--env-manager local)

    envs = tmp_path_factory.mktemp("mlflow-envs")
    code, result = reproduce(repo, store, str(run.info.run_id), "--env-manager", "virtualenv", MLFLOW_ENV_ROOT=str(envs))
    assert (code, result["verdict"], result["env_manager"]) == (0, "identical", "virtualenv"), result
    assert result["params_match"] is True, result
    [new_id] = result["reproduction_run_ids"]
    reproduction = store.client.get_run(new_id)
    # MLflow built the environment and ran the entry point in it, into the reproduction run.
    assert reproduction.data.tags["mlflow.project.env"] == "virtualenv"
    assert Path(reproduction.data.tags["interpreter"]).parent == envs
    assert reproduction.data.tags["mlrepro.reproduces"] == run.info.run_id
    assert reproduction.info.status == "FINISHED"
    assert reproduction.data.params == {"seed": "4", "label": "'red green'"}  # logged by MLflow, quoted, as the original
    assert len(store.client.search_runs([run.info.experiment_id])) == 2  # no third run made by `mlflow run`


def test_env_manager_needs_a_projects_run(tmp_path: Path, store: Store) -> None:
    repo = init_repo(tmp_path, {"train.py": "import mlflow\n", ".gitignore": "mlruns/\n"})
    run = store.client.create_run(store.client.create_experiment("direct"), tags={"mlflow.source.git.commit": git(repo.path, "rev-parse", "HEAD"), "mlrepro.command": '["train.py"]'})
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", run.info.run_id, "--tracking-uri", store.uri, "--env-manager", "virtualenv"],
        check=False, cwd=repo.path, env=env_for(store), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "was not started from an MLproject entry point" in done.stderr and "--env-manager local" in done.stderr


def test_a_genuinely_non_deterministic_project_is_never_identical(tmp_path: Path, store: Store) -> None:
    """The same project shape, but the script draws from the OS's entropy whatever its seed says."""
    noisy = TRAIN.replace("np.random.default_rng(args.seed)", "np.random.default_rng()")
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": noisy, ".gitignore": "mlruns/\nmlartifacts/\n"})
    run = mlflow_run(repo, store, "-e", "main", "-P", "alpha=.1", "-P", "seed=3")
    for options in ((), ("--repeats", "2")):
        code, result = reproduce(repo, store, str(run.info.run_id), *options)
        assert code == 1 and result["verdict"] not in ("identical", "within-tolerance"), result
        assert result["metrics"]["loss"]["outcome"] != "identical", result["metrics"]
