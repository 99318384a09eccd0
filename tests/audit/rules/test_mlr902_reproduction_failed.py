"""MLR902 on real runs: a script that crashes at its own commit, and a run nobody can start
again, through `mlrepro audit --reproduce` (several at once with --jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_helpers import Store, audit_json, codes_by_run, findings_of
from test_mlr901_reproduction_diverged import (
    SELECT,
    project,
    reproductions_of,
    train,
    worktrees,
)


def test_a_run_that_crashes_at_its_commit_fails_with_jobs_2(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    seeded = train(store, repo)
    unseeded = train(store, repo, seed="None")
    crashing = train(store, repo, after='sys.exit("data loader died")', succeeds=False)
    code, findings = audit_json(store, repo.path, "--reproduce", "--jobs", "2", *SELECT)
    assert code == 1
    assert codes_by_run(findings) == {seeded: {"MLR701"}, unseeded: {"MLR701", "MLR901"}, crashing: {"MLR701", "MLR902"}}
    [failed] = findings_of(findings, "MLR902")
    assert "the re-executed command exited with a non-zero status" in failed["message"]
    assert failed["message"].endswith("last output line: data loader died")
    assert set(reproductions_of(store)) == {seeded, unseeded, crashing}
    assert len(worktrees(repo)) == 1


def test_a_run_that_cannot_be_started_again_fails_with_the_reason(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    bare = store.run(name="no-command")  # created by the client: no commit, no command
    code, findings = audit_json(store, repo.path, "--reproduce", *SELECT)
    assert code == 1
    assert codes_by_run(findings) == {bare: {"MLR701", "MLR902"}}
    [failed] = findings_of(findings, "MLR902")
    # Nothing ran: not a verdict on the code ("did not reproduce"), the reason it never started.
    assert failed["message"].startswith("could not be re-executed at its commit: "), failed["message"]
    assert "no git commit recorded" in failed["message"] and "did not reproduce" not in failed["message"]
    assert reproductions_of(store) == {}


def test_a_recorded_diff_that_does_not_apply_is_a_run_that_could_not_be_re_executed(tmp_path: Path, store: Store) -> None:
    """The checkout itself fails (the diff, captured for real against a later commit, is
    recorded on the older one): MLR902 gives git's reason, no reproduction run, no worktree."""
    import json

    from audit_helpers import git

    from mlrepro.capture.collect import collect_tags

    repo = project(tmp_path)
    older = git(repo.path, "rev-parse", "HEAD")
    repo.commit({"train.py": (repo.path / "train.py").read_text() + "EPOCHS = 3\n"}, "epochs")
    (repo.path / "train.py").write_text((repo.path / "train.py").read_text().replace("EPOCHS = 3", "EPOCHS = 5"))
    captured = collect_tags(repo.path, argv=["train.py"])
    git(repo.path, "checkout", "--", "train.py")
    assert captured["mlrepro.git.dirty"] == "true" and "mlrepro.git.diff_parts" in captured
    run_id = store.run(name="moved-diff", metrics={"accuracy": 0.9}, tags={**captured, "mlrepro.git.commit": older, "mlrepro.command": json.dumps(["train.py"])})
    code, findings = audit_json(store, repo.path, "--reproduce", "--apply-diff", *SELECT)
    assert code == 1
    [failed] = findings_of(findings, "MLR902")
    assert failed["run_id"] == run_id
    assert failed["message"].startswith(f"could not be re-executed at its commit: the run's recorded diff does not apply on commit {older[:12]}"), failed["message"]
    assert reproductions_of(store) == {}
    assert len(worktrees(repo)) == 1 and git(repo.path, "status", "--porcelain") == ""


def test_reproduce_needs_a_git_repository(tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store.run(name="no-command")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code, findings = audit_json(store, outside, "--reproduce", *SELECT)
    assert (code, findings) == (2, [])
    assert "--reproduce needs the runs' git repository" in capsys.readouterr().err


NOTHING_TO_COMPARE = """\
import mlflow

with mlflow.start_run():
    mlflow.log_param("seed", 7)
    mlflow.log_metric("fit_time", 0.5)
"""


def test_a_re_execution_with_nothing_to_compare_is_not_a_reproduction(tmp_path: Path, store: Store) -> None:
    """It ran and logged, but the original has no metric to judge (a timing metric only):
    MLR902, not a pass."""
    from audit_helpers import init_repo
    from training_helpers import run_training

    repo = init_repo(tmp_path, {"train.py": NOTHING_TO_COMPARE, ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})
    run_id = run_training(store, repo)
    code, findings = audit_json(store, repo.path, "--reproduce", *SELECT)
    assert code == 1
    assert codes_by_run(findings) == {run_id: {"MLR701", "MLR902"}}
    [failed] = findings_of(findings, "MLR902")
    assert "nothing was compared" in failed["message"] and "no metrics to compare" in failed["message"]


def test_a_recorded_not_compared_verdict_is_reported_by_a_plain_audit(tmp_path: Path, store: Store) -> None:
    run_id = store.run(name="no-metrics", tags={
        "mlrepro.reproduced.verdict": "not-compared", "mlrepro.reproduced.run_ids": "f" * 32,
        "mlrepro.reproduced.date": "2026-11-30T03:00:00+00:00",
    })
    code, findings = audit_json(store, tmp_path, "--select", "MLR902")
    assert code == 1
    [finding] = findings
    assert finding["run_id"] == run_id
    assert finding["message"].startswith("re-executed at its commit, nothing was compared: `mlrepro reproduce --record` on 2026-11-30")
