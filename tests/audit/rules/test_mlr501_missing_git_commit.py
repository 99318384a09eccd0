from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run, git


def test_run_without_commit_is_reported(store: Store, repo: Repo) -> None:
    tied = store.good_run(repo)
    untied = store.good_run(None)
    code, findings = audit_json(store, repo.path, "--select", "MLR501")
    assert code == 1
    assert codes_by_run(findings) == {untied: {"MLR501"}}
    assert tied not in codes_by_run(findings)


def test_the_capture_plugins_commit_ties_the_run_as_it_does_for_reproduce(store: Store, repo: Repo) -> None:
    # `python -c`/`-m` runs get no mlflow.source.git.commit; the capture plugin's tag is the one
    # `mlrepro reproduce` checks out, so the audit must read it too.
    captured = store.good_run(None, tags={"mlrepro.git.commit": git(repo.path, "rev-parse", "HEAD")})
    blank = store.good_run(None, tags={"mlflow.source.git.commit": "   "})  # an empty value records nothing
    code, findings = audit_json(store, repo.path, "--select", "MLR501,MLR502")
    assert codes_by_run(findings) == {blank: {"MLR501"}}
    assert captured not in codes_by_run(findings)
    assert findings[0]["message"] == (
        "no git commit recorded (`mlrepro.git.commit` or `mlflow.source.git.commit`): "
        "the code that produced this run cannot be found"
    )
