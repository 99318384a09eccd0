from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_silent_when_the_policy_requires_no_params(store: Store, repo: Repo) -> None:
    store.good_run(repo, params={})
    code, findings = audit_json(store, repo.path, "--select", "MLR709")
    assert (code, findings) == (0, [])


def test_missing_and_empty_params_are_reported(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\nrequired-params = ["seed", "learning_rate", "epochs"]\n')
    good = store.good_run(repo, params={"seed": "42", "learning_rate": "0.1", "epochs": "10"})
    bare = store.good_run(repo, params={"seed": "42", "learning_rate": " "})
    code, findings = audit_json(store, repo.path, "--select", "MLR709")
    assert (code, codes_by_run(findings)) == (1, {bare: {"MLR709"}})
    [finding] = findings
    assert finding["message"] == "required params missing or empty: learning_rate, epochs"
    assert finding["severity"] == "error"
    assert good not in codes_by_run(findings)
