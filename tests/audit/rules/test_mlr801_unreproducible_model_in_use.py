"""MLR801 judges a served version by the error-level findings of its source run under the
team's policy (the rules the configuration file enables), whatever the command line selects."""

from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, findings_of, register


def test_served_version_of_a_failing_run_is_reported(store: Store, repo: Repo) -> None:
    bad = store.good_run(None, tags={"team": ""})  # no commit (MLR501), a required tag empty (MLR701)
    version = register(store.client, "churn", bad, aliases=("champion",))
    code, findings = audit_json(store, repo.path, "--select", "MLR801,MLR501,MLR701")
    assert code == 1
    [finding] = findings_of(findings, "MLR801")
    assert finding["model"] == f"churn/{version}"
    assert finding["run_id"] == bad
    assert finding["message"] == (
        f"served as alias @champion, but its source run {bad} fails MLR501, MLR701: "
        "the model in use cannot be rebuilt from what was recorded"
    )


def test_stage_and_aliases_are_named(store: Store, repo: Repo) -> None:
    bad = store.good_run(None)
    register(store.client, "churn", bad, stage="Production", aliases=("prod", "champion"))
    _, findings = audit_json(store, repo.path, "--select", "MLR801,MLR501")
    [finding] = findings_of(findings, "MLR801")
    assert finding["message"].startswith("served as stage Production and aliases @champion, @prod, but its source run")
    assert "fails MLR501:" in finding["message"]


def test_run_outside_the_audited_experiments_is_still_judged(store: Store, repo: Repo) -> None:
    store.good_run(repo, experiment="churn")
    bad = store.good_run(None, experiment="archive")
    register(store.client, "churn", bad, stage="Staging")
    code, findings = audit_json(store, repo.path, "--select", "MLR801,MLR501", "--experiment", "churn")
    assert code == 1
    assert [(f["code"], f["run_id"]) for f in findings] == [("MLR801", bad)]
    assert findings[0]["message"].startswith("served as stage Staging, but")


def test_clean_run_and_unserved_versions_stay_quiet(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    bad = store.good_run(None)
    register(store.client, "churn", good, stage="Production", aliases=("champion",))
    register(store.client, "churn", bad, stage="Archived")
    register(store.client, "churn", bad)  # registered, never promoted
    code, findings = audit_json(store, repo.path, "--select", "MLR801,MLR501")
    assert code == 1  # the bad run's own MLR501
    assert findings_of(findings, "MLR801") == []
    assert {f["run_id"] for f in findings} == {bad}


def test_the_policy_judges_not_the_command_line_selection(store: Store, repo: Repo) -> None:
    bad = store.good_run(None)
    register(store.client, "churn", bad, aliases=("champion",))
    code, findings = audit_json(store, repo.path, "--select", "MLR801")
    assert code == 1
    assert [f["code"] for f in findings] == ["MLR801"]
    assert "fails MLR501:" in findings[0]["message"]
    # A rule the team's configuration turns off does not fail anyone's model.
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro]\nignore = ["MLR501"]\n')
    code, findings = audit_json(store, repo.path, "--select", "MLR801")
    assert (code, findings) == (0, [])
