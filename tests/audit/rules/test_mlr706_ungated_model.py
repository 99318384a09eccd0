from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_model_logged_without_any_metric_is_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    ungated = store.model_run({})[0]
    gated = store.model_run({"val_auc": 0.8})[0]
    # MLflow 2 style: no logged model entity, only the history tag.
    legacy = store.good_run(repo, metrics={}, tags={"mlflow.log-model.history": "[]"})
    code, findings = audit_json(store, repo.path, "--select", "MLR706")
    assert code == 1
    assert codes_by_run(findings) == {ungated: {"MLR706"}, legacy: {"MLR706"}}
    assert findings[0]["message"] == (
        "logged a model but no metrics: nothing shows it was evaluated before it could be registered or deployed"
    )
    assert good not in codes_by_run(findings) and gated not in codes_by_run(findings)
