from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_missing_and_empty_tags_are_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    bare = store.good_run(repo, tags={"team": "", "purpose": "   "})
    code, findings = audit_json(store, repo.path, "--select", "MLR701")
    assert code == 1
    assert codes_by_run(findings) == {bare: {"MLR701"}}
    [finding] = findings
    assert finding["message"] == "required tags missing or empty: team, purpose"
    assert good not in codes_by_run(findings)


def test_required_tags_come_from_the_policy(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\nrequired-tags = ["owner"]\n')
    run = store.good_run(repo)
    code, findings = audit_json(store, repo.path, "--select", "MLR701")
    assert (code, codes_by_run(findings)) == (1, {run: {"MLR701"}})
    assert findings[0]["message"] == "required tag missing or empty: owner"
