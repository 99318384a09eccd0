from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, register


def test_several_production_versions_are_reported_once_on_the_highest(store: Store, repo: Repo) -> None:
    runs = [store.good_run(repo) for _ in range(3)]
    for run in runs:
        register(store.client, "churn", run, stage="Production")
    code, findings = audit_json(store, repo.path, "--select", "MLR803")
    assert code == 1
    [finding] = findings
    assert (finding["model"], finding["run_id"], finding["severity"]) == ("churn/3", runs[2], "warning")
    assert finding["message"] == (
        "3 versions of model 'churn' are in stage Production (1, 2, 3): models:/churn/Production loads "
        "version 3, so which one serves depends on how each client loads it; archive the others"
    )


def test_versions_sort_as_numbers(store: Store, repo: Repo) -> None:
    run = store.good_run(repo)
    for number in range(1, 11):
        register(store.client, "churn", run, stage="Production" if number in (9, 10) else None)
    _, findings = audit_json(store, repo.path, "--select", "MLR803")
    [finding] = findings
    assert finding["model"] == "churn/10"
    assert "(9, 10)" in finding["message"]


def test_one_production_version_per_model_is_fine(store: Store, repo: Repo) -> None:
    run = store.good_run(repo)
    register(store.client, "churn", run, stage="Production")
    register(store.client, "churn", run, stage="Staging")
    register(store.client, "churn", run, stage="Archived")
    register(store.client, "fraud", run, stage="Production")
    register(store.client, "fraud", run, aliases=("champion",))
    code, findings = audit_json(store, repo.path, "--select", "MLR803")
    assert (code, findings) == (0, [])
