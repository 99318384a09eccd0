from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, register

MISSING_RUN = "0123456789abcdef0123456789abcdef"


def test_served_version_without_run_is_reported(store: Store, repo: Repo) -> None:
    version = register(store.client, "churn", None, stage="Production", source=(store.artifacts / "model").as_uri())
    code, findings = audit_json(store, repo.path, "--select", "MLR802")
    assert code == 1
    [finding] = findings
    assert (finding["code"], finding["model"], finding["run_id"]) == ("MLR802", f"churn/{version}", None)
    assert finding["message"] == (
        "served as stage Production but records no source run: "
        "nothing says which code, data and parameters produced it"
    )


def test_served_version_whose_run_is_gone_is_reported(store: Store, repo: Repo) -> None:
    version = register(store.client, "churn", MISSING_RUN, aliases=("champion",))
    code, findings = audit_json(store, repo.path, "--select", "MLR802")
    assert code == 1
    [finding] = findings
    assert (finding["model"], finding["run_id"]) == (f"churn/{version}", MISSING_RUN)
    assert finding["message"] == (
        f"served as alias @champion but its source run {MISSING_RUN} does not exist in the tracking store: "
        "the code, data and parameters behind it are lost"
    )


def test_missing_run_is_not_also_reported_as_unreproducible(store: Store, repo: Repo) -> None:
    register(store.client, "churn", MISSING_RUN, aliases=("champion",), trail=True)
    _, findings = audit_json(store, repo.path, "--select", "MLR8,MLR501")
    assert [f["code"] for f in findings] == ["MLR802"]


def test_versions_with_runs_or_not_served_stay_quiet(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    register(store.client, "churn", good, stage="Production", aliases=("champion",))
    register(store.client, "churn", None, source=(store.artifacts / "old").as_uri())
    register(store.client, "churn", MISSING_RUN, stage="Archived")
    code, findings = audit_json(store, repo.path, "--select", "MLR802")
    assert (code, findings) == (0, [])


def test_served_version_whose_run_is_in_the_trash_is_reported(store: Store, repo: Repo) -> None:
    run = store.good_run(repo)
    register(store.client, "churn", run, aliases=("champion",))
    store.client.delete_run(run)  # soft delete: gone from searches and the UI, restorable until `mlflow gc`
    code, findings = audit_json(store, repo.path, "--select", "MLR802")
    assert code == 1
    assert [(f["code"], f["run_id"]) for f in findings] == [("MLR802", run)]
