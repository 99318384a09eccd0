"""`mlrepro reproduce` end to end: a real training script run for real into a real SQLite
store from a real git repository (the capture plugin records its command), then
re-executed by the real CLI in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from audit_helpers import Repo, Store, audit_json, git, init_repo
from training_helpers import TRAIN, reproduce_json, run_training, training_env


def train(store: Store, repo: Repo) -> str:
    return run_training(store, repo)


reproduce = reproduce_json


def project(tmp_path: Path, seed: str = "7", after: str = "pass") -> Repo:
    return init_repo(tmp_path, {"train.py": TRAIN.format(seed=seed, after=after), ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})


def worktrees(repo: Repo) -> list[str]:
    return [line for line in git(repo.path, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def test_a_seeded_run_comes_back_identical(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    run_id = train(store, repo)
    code, result, _ = reproduce(store, repo, run_id, "--record")
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["metrics"]["accuracy"]["abs_diff"] == 0.0
    assert result["code"]["commit"] == git(repo.path, "rev-parse", "HEAD")
    assert result["code"]["entry_point"] == "capture"
    [new_id] = result["reproduction_run_ids"]
    assert store.client.get_run(new_id).data.tags["mlrepro.reproduces"] == run_id
    assert store.client.get_run(run_id).data.tags["mlrepro.reproduced.verdict"] == "identical"
    assert len(worktrees(repo)) == 1, "the temporary worktree is gone"
    assert git(repo.path, "status", "--porcelain") == ""


def test_an_unseeded_run_diverges_and_repeats_report_a_spread(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path, seed="None")
    run_id = train(store, repo)
    code, result, _ = reproduce(store, repo, run_id)
    assert code == 1 and result["verdict"] == "diverged", result
    assert any("no seed" in note for note in result["notes"])
    code, result, _ = reproduce(store, repo, run_id, "--repeats", "5")
    assert len(result["reproduction_run_ids"]) == 5
    assert set(result["spread"]["accuracy"]) >= {"min", "max", "mean", "std"}
    spread = result["spread"]["noise_mean"]  # continuous: five unseeded draws never agree
    assert spread["min"] < spread["mean"] < spread["max"] and spread["std"] > 0
    # Judged against the spread, not one draw: the original lies inside it or it does not.
    assert result["metrics"]["noise_mean"]["outcome"] in ("within-seed-noise", "diverged")
    assert any("not deterministic" in note for note in result["notes"])


def test_a_seed_logged_as_none_is_no_seed_for_reproduce_as_for_the_audit(tmp_path: Path, store: Store) -> None:
    """sklearn autolog logs ``random_state=None`` for an unseeded estimator: MLR506 says no seed,
    and reproduce must not judge the run as a deterministic one."""
    repo = project(tmp_path, seed="None", after='mlflow.log_param("random_state", None)')
    run_id = train(store, repo)
    assert store.client.get_run(run_id).data.params["random_state"] == "None"
    _, findings = audit_json(store, repo.path, "--select", "MLR506")
    assert [f["run_id"] for f in findings] == [run_id]
    _, result, _ = reproduce(store, repo, run_id)
    assert any("recorded no seed" in note for note in result["notes"]), result["notes"]


# The final loss is the same on every run; only step 2 draws from the unseeded global generator.
WOBBLE = "for step in range(5): mlflow.log_metric('loss', 1.0 / (step + 1) + (np.random.random() * 1e-3 if step == 2 else 0.0), step=step)"


def test_history_catches_a_seeded_run_that_ends_equal_by_another_path(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path, after=WOBBLE)
    run_id = train(store, repo)
    code, result, _ = reproduce(store, repo, run_id)
    assert (code, result["verdict"]) == (0, "identical"), "final values alone agree"
    assert "history" not in result
    code, result, _ = reproduce(store, repo, run_id, "--history", "--record")
    assert (code, result["verdict"]) == (1, "diverged"), result
    loss = result["history"]["loss"]
    assert (loss["outcome"], loss["first_step"], loss["steps"], loss["compared_steps"]) == ("diverged", 2, 5, 5)
    assert any("history of loss: diverged from step 2" in note for note in result["notes"])
    tags = store.client.get_run(run_id).data.tags
    assert (tags["mlrepro.reproduced.verdict"], tags["mlrepro.reproduced.params_match"], tags["mlrepro.reproduced.data_match"]) == ("diverged", "true", "true")


def test_a_recorded_uncommitted_diff_is_applied(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    (repo.path / "train.py").write_text(TRAIN.format(seed="11", after="pass"))  # trained from a dirty tree
    run_id = train(store, repo)
    (repo.path / "train.py").write_text(TRAIN.format(seed="7", after="pass"))  # the tree is clean again
    code, result, _ = reproduce(store, repo, run_id, "--apply-diff")
    assert result["code"]["patch_applied"] is True
    assert (code, result["verdict"]) == (0, "identical"), result
    assert len(worktrees(repo)) == 1


def test_a_crashing_script_fails_with_its_log_tail(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    run_id = train(store, repo)
    repo.commit({"train.py": TRAIN.format(seed="7", after='sys.exit("data loader died")')}, "break training", push=True)
    # The run's own commit still works: reproduce it from a repository whose HEAD is broken.
    code, result, _ = reproduce(store, repo, run_id)
    assert (code, result["verdict"]) == (0, "identical")
    broken = run_training(store, repo, succeeds=False)
    code, result, _ = reproduce(store, repo, broken)
    assert code == 1 and result["verdict"] == "failed"
    assert "data loader died" in result["log_tail"]


def test_a_run_past_the_timeout_is_killed_and_cleaned_up(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    run_id = train(store, repo)
    repo.commit({"train.py": TRAIN.format(seed="7", after="import time; time.sleep(120)")}, "slow", push=True)
    slow = train_id_without_waiting(store, repo)
    code, result, _ = reproduce(store, repo, slow, "--timeout", "3")
    assert code == 1 and result["verdict"] == "failed"
    assert any("timeout" in note for note in result["notes"])
    assert len(worktrees(repo)) == 1
    [new_id] = result["reproduction_run_ids"]
    killed = store.client.get_run(new_id)
    assert (killed.info.status, killed.data.tags["mlrepro.reproduction.cause"]) == ("KILLED", "timeout: killed after 3 s")
    assert run_id


def train_id_without_waiting(store: Store, repo: Repo) -> str:
    """Start the slow script, wait until its run exists with metrics, then stop it."""
    import time

    proc = subprocess.Popen([sys.executable, "train.py"], cwd=repo.path, env=training_env(store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = store.client.search_runs([e.experiment_id for e in store.client.search_experiments()], filter_string="metrics.accuracy > 0")
            fresh = [r for r in runs if r.info.status == "RUNNING"]
            if fresh:
                return str(fresh[0].info.run_id)
            time.sleep(0.5)
        pytest.fail("the slow script never logged its metrics")
    finally:
        proc.kill()
        proc.wait()


def test_unusable_input_exits_2(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    code, _, stderr = reproduce(store, repo, "0" * 32)
    assert code == 2 and "no run" in stderr
    bare = store.run(name="no-command")  # created by the client: no commit, no command
    code, _, stderr = reproduce(store, repo, bare)
    assert code == 2 and len(stderr.strip().splitlines()) == 1


def test_a_relative_sqlite_uri_reproduces_from_the_project_directory(tmp_path: Path, mlflow_template: Path) -> None:
    # MLflow's default store, `sqlite:///mlflow.db`, as the demo and most projects use it: the
    # re-execution runs in a temporary worktree, where that text names another (empty) database.
    import shutil

    from mlflow import MlflowClient

    repo = init_repo(tmp_path, {"train.py": TRAIN.format(seed="7", after="pass"), ".gitignore": "mlruns/\nmlartifacts/\nmlflow.db\n", "pyproject.toml": "[tool.mlrepro]\n"})
    database = repo.path / "mlflow.db"
    shutil.copy(mlflow_template, database)
    store = Store("sqlite:///mlflow.db", database, repo.path / "mlruns", MlflowClient(tracking_uri=f"sqlite:///{database}"))
    run_id = train(store, repo)
    code, result, err = reproduce(store, repo, run_id)
    assert (code, result.get("verdict")) == (0, "identical"), (result, err)
    [new_id] = result["reproduction_run_ids"]
    assert store.client.get_run(new_id).data.metrics == store.client.get_run(run_id).data.metrics
    assert len(worktrees(repo)) == 1
