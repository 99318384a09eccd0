from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run, git


def test_commit_never_pushed_is_reported(store: Store, repo: Repo) -> None:
    pushed = store.good_run(repo)
    sha = repo.commit({"train.py": "print('quick experiment')\n"}, "quick experiment", push=False)
    local = store.good_run(repo)
    code, findings = audit_json(store, repo.path, "--select", "MLR503")
    assert code == 1
    assert codes_by_run(findings) == {local: {"MLR503"}}
    assert findings[0]["severity"] == "warning"
    assert findings[0]["message"] == (
        f"git commit {sha[:12]} is on no remote-tracking branch (never pushed, or its branch was deleted): "
        "only this clone holds the code of this run, colleagues cannot check it out"
    )
    assert pushed not in codes_by_run(findings)


def test_commit_whose_remote_branch_was_deleted_is_reported(store: Store, repo: Repo) -> None:
    git(repo.path, "checkout", "-q", "-b", "feature")
    repo.commit({"model.py": "DEPTH = 8\n"}, "feature work", push=False)
    git(repo.path, "push", "-q", "origin", "feature")
    run = store.good_run(repo)
    code, findings = audit_json(store, repo.path, "--select", "MLR503")
    assert (code, findings) == (0, [])
    git(repo.path, "checkout", "-q", "main")
    git(repo.path, "branch", "-q", "-D", "feature")
    git(repo.path, "push", "-q", "origin", "--delete", "feature")
    code, findings = audit_json(store, repo.path, "--select", "MLR503")
    assert codes_by_run(findings) == {run: {"MLR503"}}


def test_quiet_without_remote_or_known_commit(store: Store, repo: Repo) -> None:
    repo.commit({"train.py": "print('local')\n"}, "local", push=False)
    store.good_run(repo)
    store.good_run(repo, tags={"mlflow.source.git.commit": "0" * 40})  # unknown: MLR502's job
    store.good_run(None)
    git(repo.path, "remote", "remove", "origin")
    code, findings = audit_json(store, repo.path, "--select", "MLR503")
    assert (code, findings) == (0, [])
