from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_run_without_commit_is_reported(store: Store, repo: Repo) -> None:
    tied = store.good_run(repo)
    untied = store.good_run(None)
    code, findings = audit_json(store, repo.path, "--select", "MLR501")
    assert code == 1
    assert codes_by_run(findings) == {untied: {"MLR501"}}
    assert tied not in codes_by_run(findings)
