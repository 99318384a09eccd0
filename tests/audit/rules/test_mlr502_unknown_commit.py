from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from audit_helpers import Repo, Store, audit_json, codes_by_run, git


def test_commit_rewritten_away_is_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    sha = repo.commit({"train.py": "print('lr 0.3')\n"}, "try lr 0.3", push=False)
    rewritten = store.good_run(repo)
    # A rebase/amend, then gc: the commit the run points at is gone.
    git(repo.path, "reset", "-q", "--hard", "HEAD~1")
    git(repo.path, "reflog", "expire", "--expire-unreachable=now", "--all")
    git(repo.path, "gc", "-q", "--prune=now")
    code, findings = audit_json(store, repo.path, "--select", "MLR502")
    assert code == 1
    assert codes_by_run(findings) == {rewritten: {"MLR502"}}
    assert findings[0]["message"] == (
        f"git commit {sha[:12]} does not exist in {repo.path.resolve()} (history rewritten, never pushed from the "
        "machine that trained, or not fetched yet): the code of this run cannot be checked out"
    )
    assert good not in codes_by_run(findings)


def test_value_that_is_not_a_hash_is_reported_even_without_a_repository(store: Store, repo: Repo, tmp_path: Path) -> None:
    named = store.good_run(repo, tags={"mlflow.source.git.commit": "main"})
    foreign = store.good_run(repo, tags={"mlflow.source.git.commit": "0" * 40})
    untied = store.good_run(None)  # no commit at all is MLR501's finding
    code, findings = audit_json(store, repo.path, "--select", "MLR502")
    assert codes_by_run(findings) == {named: {"MLR502"}, foreign: {"MLR502"}}
    assert untied not in codes_by_run(findings)
    assert [f["message"] for f in findings if f["run_id"] == named] == [
        "recorded git commit 'main' is not a commit hash: no checkout can give back the code of this run"
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, findings = audit_json(store, elsewhere, "--select", "MLR502")
    # Outside a repository an unknown hash cannot be judged; a malformed value still can.
    assert (code, codes_by_run(findings)) == (1, {named: {"MLR502"}})


def test_shallow_clone_says_so(store: Store, repo: Repo, tmp_path: Path) -> None:
    old = store.good_run(repo)
    repo.commit({"train.py": "print('v2')\n"}, "v2")
    new = store.good_run(repo)
    shallow = tmp_path / "ci-checkout"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "main", repo.origin.as_uri(), str(shallow)], check=True)
    code, findings = audit_json(store, shallow, "--select", "MLR502")
    assert codes_by_run(findings) == {old: {"MLR502"}}
    assert "this clone is shallow: fetch the full history with `git fetch --unshallow`" in findings[0]["message"]
    assert new not in codes_by_run(findings)


def test_repo_option_that_is_not_a_repository_exits_2(store: Store, repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store.good_run(repo)
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    code, findings = audit_json(store, repo.path, "--select", "MLR502", "--repo", str(plain))
    assert (code, findings) == (2, [])
    err = capsys.readouterr().err
    assert err == f"mlrepro: error: {plain}: not a git repository\n"


def test_a_malformed_capture_commit_is_mlr502_not_a_missing_commit(store: Store, repo: Repo) -> None:
    garbage = store.good_run(None, tags={"mlrepro.git.commit": "not-a-sha"})
    # The capture plugin's tag wins over MLflow's, as in `mlrepro reproduce`: MLflow reads the
    # commit once per process, the plugin at every run start.
    shadowed = store.good_run(repo, tags={"mlrepro.git.commit": "0" * 40})
    code, findings = audit_json(store, repo.path, "--select", "MLR501,MLR502")
    assert code == 1
    assert codes_by_run(findings) == {garbage: {"MLR502"}, shadowed: {"MLR502"}}
    assert [f["message"] for f in findings if f["run_id"] == garbage] == [
        "recorded git commit 'not-a-sha' is not a commit hash: no checkout can give back the code of this run"
    ]
