"""MLR901 on real runs: training scripts run for real from a real git repository into a real
SQLite store (the capture plugin records their command), then `mlrepro audit --reproduce`
re-executes them at their commits. The helpers here are shared with the MLR902 tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from audit_helpers import (
    Repo,
    Store,
    audit_json,
    codes_by_run,
    findings_of,
    git,
    init_repo,
    register,
)
from training_helpers import TRAIN, run_training, training_env

SELECT = ("--select", "MLR901,MLR902,MLR701")


def project(tmp_path: Path) -> Repo:
    return init_repo(tmp_path, {"train.py": TRAIN.format(seed="7", after="pass"), ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})


def train(store: Store, repo: Repo, seed: str = "7", after: str = "pass", succeeds: bool = True) -> str:
    """Commit the script as given, run it as a user does; the id of the run it logged."""
    if (repo.path / "train.py").read_text() != TRAIN.format(seed=seed, after=after):
        repo.commit({"train.py": TRAIN.format(seed=seed, after=after)}, f"seed {seed}, then {after}")
    return run_training(store, repo, succeeds)


def reproductions_of(store: Store) -> dict[str, list[str]]:
    """Original run id -> the runs that reproduced it."""
    found: dict[str, list[str]] = {}
    for run in store.client.search_runs([e.experiment_id for e in store.client.search_experiments()]):
        original = run.data.tags.get("mlrepro.reproduces")
        if original:
            found.setdefault(original, []).append(run.info.run_id)
    return found


def worktrees(repo: Repo) -> list[str]:
    return [line for line in git(repo.path, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def test_an_unseeded_run_diverges_and_a_seeded_one_does_not(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    seeded = train(store, repo)
    unseeded = train(store, repo, seed="None")
    code, findings = audit_json(store, repo.path, "--reproduce", *SELECT)
    assert code == 1
    assert codes_by_run(findings) == {seeded: {"MLR701"}, unseeded: {"MLR701", "MLR901"}}
    [diverged] = findings_of(findings, "MLR901")
    [[new_id]] = [reproductions_of(store)[unseeded]]
    assert diverged["message"].startswith(f"re-executed at its commit, the metrics diverged (reproduction run {new_id}): ")
    assert "noise_sum " in diverged["message"]
    assert set(reproductions_of(store)) == {seeded, unseeded}, "both flagged runs were re-executed"
    assert len(worktrees(repo)) == 1 and git(repo.path, "status", "--porcelain") == ""


def test_without_reproduce_the_rules_never_fire_and_the_store_is_untouched(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    unseeded = train(store, repo, seed="None")
    before = store.digest()
    code, findings = audit_json(store, repo.path, *SELECT)
    assert (code, codes_by_run(findings)) == (1, {unseeded: {"MLR701"}})
    assert store.digest() == before and reproductions_of(store) == {}


def test_max_reproductions_caps_the_re_executions(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    first = train(store, repo, seed="None")
    second = train(store, repo, seed="None", after="mlflow.log_param('variant', 2)")
    code, findings = audit_json(store, repo.path, "--reproduce", "--max-reproductions", "1", *SELECT)
    assert code == 1
    [reproduced] = reproductions_of(store)
    assert reproduced in (first, second)
    assert [f["run_id"] for f in findings_of(findings, "MLR901")] == [reproduced]
    _, findings = audit_json(store, repo.path, "--reproduce", "--max-reproductions", "0", *SELECT)
    assert findings_of(findings, "MLR901") == [] and len(reproductions_of(store)) == 1


def test_served_models_are_reproduced_even_without_other_findings(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    served = train(store, repo, seed="None")
    other = train(store, repo, seed="None", after="mlflow.log_param('variant', 2)")
    register(store.client, "iris", served, aliases=("champion",))
    # MLR701 is not selected: no run has an error finding, only the served model's run is a candidate.
    code, findings = audit_json(store, repo.path, "--reproduce", "--select", "MLR901,MLR902,MLR801")
    assert (code, codes_by_run(findings)) == (1, {served: {"MLR901", "MLR801"}})
    [model] = findings_of(findings, "MLR801")
    assert "MLR901" in model["message"], "the registry is judged again with the reproduction's verdict"
    assert set(reproductions_of(store)) == {served} and other not in reproductions_of(store)
    # A second audit does not reproduce the reproduction run it created.
    audit_json(store, repo.path, "--reproduce", "--select", "MLR901,MLR902,MLR701")
    reproductions = reproductions_of(store)
    assert all(new_id not in reproductions for ids in reproductions.values() for new_id in ids)


def test_a_verdict_recorded_by_reproduce_is_reported_by_a_read_only_audit(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    unseeded = train(store, repo, seed="None")
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", unseeded, "--tracking-uri", store.uri, "--record"],
        cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    [new_id] = reproductions_of(store)[unseeded]
    register(store.client, "iris", unseeded, aliases=("champion",))
    before = store.digest()
    code, findings = audit_json(store, repo.path, "--select", "MLR901,MLR801")
    assert store.digest() == before, "the audit only read the recorded verdict"
    # The reproduction run itself is evidence, not a result: it is not audited.
    assert (code, codes_by_run(findings)) == (1, {unseeded: {"MLR901", "MLR801"}})
    [diverged] = findings_of(findings, "MLR901")
    assert "`mlrepro reproduce --record` on " in diverged["message"] and f"(reproduction run {new_id})" in diverged["message"]
    [served] = findings_of(findings, "MLR801")
    assert "MLR901" in served["message"]
