"""Every way out of a running `mlrepro reproduce` cleans up: the real CLI in its own process, a
real training script that sleeps (and has a child of its own), a real SQLite store and git
repository. After SIGTERM, SIGHUP or SIGINT the training processes are gone, the temporary
worktree and directory are removed, and the reproduction run is KILLED with its cause."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from audit_helpers import Repo, Store, git, init_repo
from training_helpers import run_training, training_env

# Sleeps (with a child that sleeps too) only when the test asks for it: the original run
# trains at once, the reproduction hangs like a long training job.
SLEEPY = """\
import os, subprocess, sys, time
import mlflow

with mlflow.start_run():
    mlflow.log_param("seed", 1)
    mlflow.log_metric("accuracy", 0.5)
    piddir = os.environ.get("TRAIN_PIDDIR")
    if piddir:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pidfile = os.path.join(piddir, str(os.getpid()))
        with open(pidfile + ".tmp", "w") as fh:
            fh.write(f"{os.getpid()} {child.pid}")
        os.replace(pidfile + ".tmp", pidfile + ".pid")
        time.sleep(600)
"""

DEADLINE_S = 120  # generous: the machine is shared; nothing here is a timing assertion


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]  # a zombie is dead, only not yet reaped


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {DEADLINE_S} s for {what}")
        time.sleep(0.1)


def worktrees(repo: Repo) -> list[str]:
    return [line for line in git(repo.path, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def reproductions_of(store: Store, run_id: str) -> list:  # type: ignore[type-arg]
    experiments = [e.experiment_id for e in store.client.search_experiments()]
    return store.client.search_runs(experiments, filter_string=f"tags.`mlrepro.reproduces` = '{run_id}'")


def _stop_while_training(cwd: Path, env: dict[str, str], argv: list[str], sig: signal.Signals, trainings: int, piddir: Path) -> tuple[int, str]:
    """Start `mlrepro ARGV`, wait until ``trainings`` re-executions are training, send ``sig``,
    and wait until every training process has ended (or fail). Exit code and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "mlrepro", *argv], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        _wait_for(lambda: len(list(piddir.glob("*.pid"))) >= trainings or proc.poll() is not None, "the trainings to start")
        assert proc.poll() is None, proc.communicate()
        pids = [int(p) for f in piddir.glob("*.pid") for p in f.read_text().split()]
        assert len(pids) == 2 * trainings and all(_alive(p) for p in pids)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=DEADLINE_S)
        for pid in pids:  # before the clean-up below, which would hide a survivor
            _wait_for(lambda: not _alive(pid), f"training process {pid} to end")
    finally:
        for pid in pids:  # whatever the outcome, leave nothing running on the shared machine
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


def _setup(tmp_path: Path, store: Store, trainings: int = 1) -> tuple[Repo, list[str], dict[str, str], Path, Path]:
    repo = init_repo(tmp_path / "project", {"train.py": SLEEPY, ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})
    run_ids = [run_training(store, repo) for _ in range(trainings)]
    temp, piddir = tmp_path / "tmp", tmp_path / "pids"
    temp.mkdir()
    piddir.mkdir()
    env = {**training_env(store), "TRAIN_PIDDIR": str(piddir), "TMPDIR": str(temp)}
    return repo, run_ids, env, temp, piddir


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_kills_the_training_and_cleans_up(tmp_path: Path, store: Store, sig: signal.Signals) -> None:
    repo, [run_id], env, temp, piddir = _setup(tmp_path, store)
    code, stderr = _stop_while_training(repo.path, env, ["reproduce", run_id, "--tracking-uri", store.uri], sig, 1, piddir)

    assert code == 128 + sig
    assert "Traceback" not in stderr, stderr
    assert len(worktrees(repo)) == 1, worktrees(repo)
    assert [p.name for p in temp.iterdir() if p.name.startswith("mlrepro-")] == []
    [reproduction] = reproductions_of(store, run_id)
    assert reproduction.info.status == "KILLED"
    assert sig.name in reproduction.data.tags["mlrepro.reproduction.cause"]
    assert reproduction.info.run_id in stderr, stderr
    assert sig.name in stderr, stderr


def test_sigterm_stops_every_reproduction_of_an_audit_with_jobs_2(tmp_path: Path, store: Store) -> None:
    repo, run_ids, env, temp, piddir = _setup(tmp_path, store, trainings=2)
    argv = ["audit", "--reproduce", "--jobs", "2", "--tracking-uri", store.uri, "--select", "MLR901,MLR902,MLR701", "--quiet"]
    code, stderr = _stop_while_training(repo.path, env, argv, signal.SIGTERM, 2, piddir)

    assert code == 128 + signal.SIGTERM
    assert "Traceback" not in stderr, stderr
    assert len(worktrees(repo)) == 1, worktrees(repo)
    assert [p.name for p in temp.iterdir() if p.name.startswith("mlrepro-")] == []
    for run_id in run_ids:
        [reproduction] = reproductions_of(store, run_id)
        assert (reproduction.info.status, reproduction.data.tags["mlrepro.reproduction.cause"]) == ("KILLED", "SIGTERM")
        assert reproduction.info.run_id in stderr, stderr
