"""``--executor ray`` on a real local Ray cluster (a head node and a second node, ``ray start``
on 127.0.0.1): reproductions run as Ray tasks that fetch the repository from its remote (a bare
repository in tmp) or from a bundle the driver ships, and come back with the verdicts and JSON
results of the local executor. Ray is a test dependency: without it these tests fail."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_helpers import Repo, Store, git, init_repo
from ray_cluster_helpers import LocalCluster, start_cluster
from training_helpers import TRAIN, reproduce_json, run_training

SRC = str(Path(__file__).resolve().parents[2] / "src")
# Varies from one execution to the next: everything else in a JSON result must be equal.
_PER_EXECUTION = ("reproduction_run_ids", "duration_s", "log_tail")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalCluster]:
    import ray  # noqa: F401 - a missing Ray fails here, loudly: it is in the test extra

    cluster = start_cluster(head_cpus=2, second_node_cpus=1, pythonpath=SRC)
    try:
        yield cluster
    finally:
        left = cluster.stop()
        assert not left, f"Ray processes left after the cluster was stopped: {sorted(left)}"


def project(tmp_path: Path, seed: str = "7", after: str = "pass") -> Repo:
    return init_repo(tmp_path, {"train.py": TRAIN.format(seed=seed, after=after), ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})


def on_ray(store: Store, repo: Repo, run_id: str, cluster: LocalCluster, *args: str) -> tuple[int, dict, str]:
    return reproduce_json(store, repo, run_id, "--executor", "ray", "--ray-address", cluster.address, *args)


def comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in _PER_EXECUTION}


def leftover_workspaces() -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob("mlrepro-remote-*"))


def test_a_seeded_run_gives_the_local_result_on_ray(tmp_path: Path, store: Store, ray_cluster: LocalCluster) -> None:
    repo = project(tmp_path)
    run_id = train = run_training(store, repo)
    local_code, local, _ = reproduce_json(store, repo, run_id)
    code, remote, err = on_ray(store, repo, run_id, ray_cluster)
    assert (code, remote.get("verdict")) == (local_code, "identical") == (0, "identical"), err
    assert comparable(remote) == comparable(local)
    # The reproduction run Ray's worker logged is a run like the local one: same tags and params.
    [local_id], [remote_id] = local["reproduction_run_ids"], remote["reproduction_run_ids"]
    before, after = store.client.get_run(local_id), store.client.get_run(remote_id)
    assert after.info.status == before.info.status == "FINISHED"
    assert after.data.tags["mlrepro.reproduces"] == train
    assert after.data.params == before.data.params and after.data.metrics == before.data.metrics
    assert git(repo.path, "worktree", "list").count("\n") == 0, "nothing was checked out beside the user's repository"
    assert leftover_workspaces() == []


def test_without_a_remote_the_driver_ships_a_bundle(tmp_path: Path, store: Store, ray_cluster: LocalCluster) -> None:
    repo = project(tmp_path)
    git(repo.path, "remote", "remove", "origin")
    run_id = run_training(store, repo)
    code, result, err = on_ray(store, repo, run_id, ray_cluster)
    assert (code, result.get("verdict")) == (0, "identical"), err
    assert result["code"]["commit"] == git(repo.path, "rev-parse", "HEAD")


# Any reproduction of it (MLFLOW_RUN_ID set by mlrepro) kills the process that started it: the
# Ray worker running the task. Each start is counted in a file.
KILLER = """
import os, signal, time
if os.environ.get("MLFLOW_RUN_ID"):
    with open({counter!r}, "a") as f:
        f.write("started\\n")
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(2)
    raise SystemExit(3)
"""


def test_a_killed_worker_is_retried_once_then_the_reproduction_fails(tmp_path: Path, store: Store, ray_cluster: LocalCluster) -> None:
    counter = tmp_path / "starts.txt"
    repo = project(tmp_path, after="pass")
    repo.commit({"train.py": KILLER.format(counter=str(counter)) + TRAIN.format(seed="7", after="pass")}, "kill the worker")
    run_id = run_training(store, repo)
    code, _, err = on_ray(store, repo, run_id, ray_cluster)
    assert code == 2, err
    assert "failed on the Ray cluster after 1 retry" in err and "WorkerCrashedError" in err, err
    assert counter.read_text().count("started") == 2, "one execution and one retry"
    # The dead workers could not end the runs they started: the driver did, with the cause.
    reproductions = store.client.search_runs([e.experiment_id for e in store.client.search_experiments()], f"tags.`mlrepro.reproduces` = '{run_id}'")
    assert len(reproductions) == 2
    for run in reproductions:
        assert run.info.status == "FAILED", run.info
        assert "WorkerCrashedError" in run.data.tags["mlrepro.reproduction.cause"]
    # The killed workers could not remove their workspaces: the next task on the machine does.
    other = project(tmp_path / "other")
    code, result, err = on_ray(store, other, run_training(store, other), ray_cluster)
    assert (code, result.get("verdict")) == (0, "identical"), err
    assert leftover_workspaces() == []


def test_without_ray_installed_the_executor_names_the_extra(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    code = (
        "import sys; sys.modules['ray'] = None\n"  # what an environment without Ray gives `import ray`
        "from mlrepro.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "reproduce", "0" * 32, "--tracking-uri", store.uri, "--executor", "ray"],
        cwd=repo.path, env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'mlrepro[ray]'" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_executor_is_configured_and_checked(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.reproduce]\nexecutor = "slurm"\n')
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", "0" * 32, "--tracking-uri", store.uri],
        cwd=repo.path, env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "executor must be one of local, ray" in done.stderr, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "audit", "--tracking-uri", store.uri, "--executor", "ray"],
        cwd=repo.path, env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "--executor needs --reproduce" in done.stderr, done.stderr


# A reproduction of it says where it runs and then trains for a long time.
SLOW = """
import os, time
if os.environ.get("MLFLOW_RUN_ID"):
    with open({marker!r}, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(300)
"""


def test_ctrl_c_on_the_driver_cancels_the_task_and_kills_its_training(tmp_path: Path, store: Store, ray_cluster: LocalCluster) -> None:
    import json
    import signal
    import time

    from training_helpers import training_env

    marker = tmp_path / "training.pid"
    repo = project(tmp_path)
    repo.commit({"train.py": SLOW.format(marker=str(marker)) + TRAIN.format(seed="7", after="pass")}, "slow")
    run_id = run_training(store, repo)
    driver = subprocess.Popen(
        [sys.executable, "-m", "mlrepro", "reproduce", run_id, "--tracking-uri", store.uri, "--executor", "ray", "--ray-address", ray_cluster.address],
        cwd=repo.path, env=training_env(store), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists() or not marker.read_text():
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
        time.sleep(0.2)
    training = int(marker.read_text())
    driver.send_signal(signal.SIGINT)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, (out, err)
    assert f"the Ray task reproducing run {run_id} was cancelled (SIGINT)" in err, err
    time.sleep(1)
    assert not Path(f"/proc/{training}").exists(), "the training's process group was stopped"
    [run] = store.client.search_runs([e.experiment_id for e in store.client.search_experiments()], f"tags.`mlrepro.reproduces` = '{run_id}'")
    assert run.info.status == "KILLED", json.dumps(run.data.tags)
    assert leftover_workspaces() == []


def test_audit_reproduce_on_ray_gives_the_local_findings(tmp_path: Path, store: Store, ray_cluster: LocalCluster) -> None:
    """``audit --reproduce``: a seeded and an unseeded flagged run, both tasks at once on the
    cluster, judged as the local pool judges them (MLR901/MLR902 on the same runs)."""
    import json
    import shutil

    from training_helpers import training_env

    repo = project(tmp_path)
    seeded = run_training(store, repo)
    repo.commit({"train.py": TRAIN.format(seed="None", after="pass")}, "unseeded")
    unseeded = run_training(store, repo)
    copy = tmp_path / "copy.db"
    shutil.copy(store.path, copy)  # the same runs, reproduced once by each executor

    def reproduction_findings(uri: str, *args: str) -> set[tuple[str, str, str]]:
        done = subprocess.run(
            [sys.executable, "-m", "mlrepro", "audit", "--tracking-uri", uri, "--output-format", "json", "-q", "--no-artifacts", "--reproduce", *args],
            cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=600,
        )
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
        return {(f["code"], f["run_id"], f["severity"]) for f in json.loads(done.stdout) if f["code"].startswith("MLR9")}

    local = reproduction_findings(store.uri, "--jobs", "2")
    remote = reproduction_findings(f"sqlite:///{copy}", "--executor", "ray", "--ray-address", ray_cluster.address)
    assert remote == local
    assert {run_id for _, run_id, _ in local} == {unseeded}, local  # the seeded run came back identical: nothing to say
    assert seeded not in {run_id for _, run_id, _ in remote}
