"""MLR804: a version serving as stage Production or a guarded alias without the trail that
`mlrepro promote` records was promoted around the gate."""

from __future__ import annotations

from audit_helpers import PROMOTION_TRAIL as TRAIL
from audit_helpers import Repo, Store, audit_json, register


def tag(store: Store, name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        store.client.set_model_version_tag(name, version, key, value)


def test_versions_in_use_without_the_trail_are_reported(store: Store, repo: Repo) -> None:
    run = store.good_run(repo)
    by_alias = register(store.client, "churn", run, aliases=("champion",))
    by_stage = register(store.client, "fraud", run, stage="Production")
    code, findings = audit_json(store, repo.path, "--select", "MLR804")
    assert code == 1
    assert [(f["model"], f["run_id"], f["severity"]) for f in findings] == [
        (f"churn/{by_alias}", run, "warning"),
        (f"fraud/{by_stage}", run, "warning"),
    ]
    assert findings[0]["message"] == (
        "serves as alias @champion without the promotion trail (mlrepro.promoted_by, mlrepro.promoted_at, "
        "mlrepro.gate, mlrepro.audit_digest missing): it was promoted around `mlrepro promote`, so no audit "
        "or reproduction vouched for it"
    )
    assert findings[1]["message"].startswith("serves as stage Production without the promotion trail")


def test_a_partial_trail_and_a_hand_moved_alias_are_reported(store: Store, repo: Repo) -> None:
    run = store.good_run(repo)
    partial = register(store.client, "churn", run, aliases=("champion",))
    tag(store, "churn", partial, {"mlrepro.promoted_by": "alice"})
    moved = register(store.client, "fraud", run, aliases=("production",))
    tag(store, "fraud", moved, {**TRAIL, "mlrepro.promoted_to": "@staging"})
    _, findings = audit_json(store, repo.path, "--select", "MLR804")
    messages = {f["model"]: f["message"] for f in findings}
    assert "(mlrepro.promoted_at, mlrepro.gate, mlrepro.audit_digest missing)" in messages[f"churn/{partial}"]
    assert messages[f"fraud/{moved}"] == (
        "serves as alias @production, but the gate promoted it to @staging only: @production was set by hand"
    )


def test_gated_staging_archived_and_unguarded_versions_stay_quiet(store: Store, repo: Repo) -> None:
    run = store.good_run(repo)
    gated = register(store.client, "churn", run, aliases=("champion",), stage="Production")
    tag(store, "churn", gated, {**TRAIL, "mlrepro.promoted_to": "@champion,stage:Production"})
    register(store.client, "churn", run, stage="Staging", aliases=("challenger",))
    register(store.client, "churn", run, stage="Archived")
    register(store.client, "churn", run)
    assert audit_json(store, repo.path, "--select", "MLR804") == (0, [])


def test_guarded_aliases_come_from_the_config(store: Store, repo: Repo) -> None:
    run = store.good_run(repo)
    register(store.client, "churn", run, aliases=("champion",))
    blue = register(store.client, "fraud", run, aliases=("blue",))
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.promote]\nguarded-aliases = ["blue"]\n')
    code, findings = audit_json(store, repo.path, "--select", "MLR804")
    assert code == 1
    assert [f["model"] for f in findings] == [f"fraud/{blue}"]
