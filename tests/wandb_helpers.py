"""Helpers for W&B tests: real offline runs, produced by real training scripts run as
subprocesses inside a real git repository (no server: WANDB_MODE=offline, and a base URL
that refuses connections, so that any attempt at the network fails instead of waiting).

A W&B run costs 3-4 s of SDK start-up and shutdown, so the scenarios run in parallel and every
test module shares them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit_helpers import Repo, cached_venv, git, init_repo

# Pure Python, so a run costs W&B's start-up and little else. `--die exit` kills the process
# and W&B's core mid-way (no exit record, exit code 3), `--die raise` ends it with an exception
# (exit code 1).
TRAIN = """\
import argparse
import glob
import os
import random
import signal
import sys
import tempfile
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
parser.add_argument("--variant", default="base")
parser.add_argument("--tags", default="model_type:mlp,dataset_version:v3,feature_set:base,team:fraud,purpose:nightly")
parser.add_argument("--die", choices=["exit", "raise"])
parser.add_argument("--model-only", action="store_true", help="log a 2 MiB model artifact and no metrics")
args = parser.parse_args()


def killed(log):
    # The SDK's core writes the log 32 KiB at a time, on its own schedule: under load it can
    # lag far behind run.log(), and whatever it still holds when this process dies is written
    # (or not) after the process is gone, while the test may already be reading the log. So
    # the kill is not left to timing: once two whole blocks are on disk (the config and some
    # hundred records, however slow the machine), the core and this process die together, as
    # when a scheduler kills the job, and the log is final when the process has exited.
    deadline = time.monotonic() + 300
    while os.path.getsize(log) < 2 * 32768:
        if time.monotonic() > deadline:
            sys.exit(f"the W&B core wrote {os.path.getsize(log)} bytes of {log} in 300 s")
        time.sleep(0.05)
    me = str(os.getpid())
    for stat in glob.glob("/proc/[0-9]*/stat"):  # this process's children: W&B's core
        try:
            with open(stat) as fh:
                pid, ppid = int(stat.split("/")[2]), fh.read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if ppid == me:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass  # already gone, or reaped by the SDK
    os._exit(3)


config = {"variant": args.variant, "lr": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9}}
if args.seed is not None:
    config["seed"] = args.seed
    random.seed(args.seed)
run = wandb.init(project="churn", name=f"mlp-{args.variant}", config=config, tags=[t for t in args.tags.split(",") if t], save_code=True)
if args.model_only:
    weights = os.path.join(tempfile.mkdtemp(), "weights.bin")
    with open(weights, "wb") as fh:
        fh.write(bytes(2 * 1024 * 1024))
    model = wandb.Artifact("mlp", type="model")
    model.add_file(weights)
    run.log_artifact(model)
    run.finish()
    raise SystemExit(0)
# The SDK's core writes the log 32 KiB at a time: a process killed in its first seconds leaves
# a log with the header alone. The run killed mid-way logs enough steps to fill some blocks.
steps = 400 if args.die == "exit" else 5
loss = 1.0
for step in range(steps):
    loss *= 0.5 + random.random() / 2
    run.log({"loss": loss, "step_time": 0.01})
    if args.die == "exit" and step == steps - 1:
        killed(os.path.join(os.path.dirname(run.dir), f"run-{run.id}.wandb"))
if args.die == "raise":
    raise RuntimeError("training diverged")
run.summary["accuracy"] = 1 - loss
run.summary["notes"] = "a string is not a metric"
run.finish()
"""

PYPROJECT = """\
[tool.mlrepro.audit]
# A killed run is flagged once it is older than this: at once, here.
stale-running-hours = 0
max-artifact-mb = 1
"""

# scenario -> training arguments. Each run has its own variant, so that no two are
# indistinguishable (MLR703) by accident.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "clean": ("--seed", "7", "--variant", "clean"),
    "unseeded": ("--variant", "unseeded"),
    "untagged": ("--seed", "7", "--variant", "untagged", "--tags", "dataset_version:v3"),
    "killed": ("--seed", "7", "--variant", "killed", "--die", "exit"),
    "raised": ("--seed", "7", "--variant", "raised", "--die", "raise"),
    "model": ("--seed", "7", "--variant", "model", "--model-only"),
}
DIRTY_ARGS = ("--seed", "7", "--variant", "dirty")


def wandb_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLREPRO_", "MLFLOW_RUN_ID", "PYTHONHASHSEED"))}
    env.update(
        {
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            "WANDB_BASE_URL": "http://127.0.0.1:9",  # nothing listens there: a network call would fail fast
            "WANDB_CONFIG_DIR": str(home / "config"),
            "WANDB_CACHE_DIR": str(home / "cache"),
            "WANDB_DATA_DIR": str(home / "data"),
            "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com",
        }
    )
    return env


@dataclass
class WandbProject:
    repo: Repo
    wandb_dir: Path
    run_ids: dict[str, str]  # scenario -> W&B run id
    env: dict[str, str]
    commit: str

    def run_dir(self, scenario: str) -> Path:
        [found] = [p for p in self.wandb_dir.iterdir() if p.name.endswith("-" + self.run_ids[scenario]) and not p.is_symlink()]
        return found


def _runs(wandb_dir: Path) -> set[str]:
    return {p.name.rsplit("-", 1)[-1] for p in wandb_dir.glob("*run-*") if not p.is_symlink()} if wandb_dir.is_dir() else set()


def train(repo: Repo, env: Mapping[str, str], args: tuple[str, ...], python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "train.py", *args], cwd=repo.path, env=dict(env), capture_output=True, text=True, timeout=180)


def produce_runs(tmp: Path, python: str = sys.executable, scenarios: tuple[str, ...] = tuple(SCENARIOS), dirty: bool = True) -> WandbProject:
    """The scenarios as real runs (with ``python``, whose wandb may be another version); the
    run ids found by the config each run logged."""
    repo = init_repo(tmp, {"train.py": TRAIN, "pyproject.toml": PYPROJECT, ".gitignore": "wandb/\n"})
    env = wandb_env(tmp / "wandb-home")
    wandb_dir = repo.path / "wandb"

    def one(args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return train(repo, env, args, python)

    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        done = dict(zip(scenarios, pool.map(one, [SCENARIOS[name] for name in scenarios])))
    for name, result in done.items():
        expected = {"killed": 3, "raised": 1}.get(name, 0)
        assert result.returncode == expected, (name, result.stderr[-3000:])
    # Which directory is whose: each run's config names its variant (read back through the log).
    from mlrepro.sources.wandb_dir import WandbDirs

    by_variant = {run.params["variant"]: run.run_id for run in WandbDirs.open([wandb_dir]).iter_runs()}
    run_ids = {name: by_variant[name] for name in scenarios}
    if not dirty:
        return WandbProject(repo, wandb_dir, run_ids, env, git(repo.path, "rev-parse", "HEAD"))
    # The dirty run: an uncommitted edit of the script, reverted afterwards.
    script = repo.path / "train.py"
    before = _runs(wandb_dir)
    script.write_text(TRAIN + "# an uncommitted edit\n")
    try:
        result = train(repo, env, DIRTY_ARGS, python)
        assert result.returncode == 0, result.stderr[-3000:]
    finally:
        git(repo.path, "checkout", "--", "train.py")
    [run_ids["dirty"]] = _runs(wandb_dir) - before
    return WandbProject(repo, wandb_dir, run_ids, env, git(repo.path, "rev-parse", "HEAD"))


def sdk_python(version: str) -> Path | str:
    """A Python with wandb ``version`` in a venv of its own, cached across sessions (creating
    one takes about 15 s), used only to write run directories with that SDK. Returns the
    reason as a string when the version cannot be installed here."""
    return cached_venv(f"wandb-{version}", "wandb", version, [f"wandb=={version}"])


def audit(cwd: Path, *args: str) -> tuple[int, str, str]:
    """The real CLI, in process, as users run it from their project."""
    from mlrepro.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["audit", "--quiet", *args])
    finally:
        os.chdir(previous)
    return code, out.getvalue(), err.getvalue()


def audit_json(cwd: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    code, out, err = audit(cwd, "--output-format", "json", *args)
    assert code in (0, 1), err
    return code, json.loads(out)
