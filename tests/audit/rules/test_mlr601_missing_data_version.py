from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run

MESSAGE = (
    "no dataset inputs logged and no data-version tag (dataset_version, data_version, mlrepro.data_version): "
    "the data this run trained on cannot be identified"
)


def test_run_without_any_data_record_is_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    blind = store.good_run(repo, datasets=[], tags={"dataset_version": ""})
    tagged_only = store.good_run(repo, datasets=[], tags={"dataset_version": "", "data_version": "2026-11-02"})
    dvc_only = store.good_run(repo, datasets=[], tags={"dataset_version": "", "mlrepro.dvc.data/train.csv": "0" * 32})
    logged_only = store.good_run(repo, tags={"dataset_version": ""})
    code, findings = audit_json(store, repo.path, "--select", "MLR601")
    assert code == 1
    assert codes_by_run(findings) == {blind: {"MLR601"}}
    assert [f["message"] for f in findings] == [MESSAGE]
    for clean in (good, tagged_only, dvc_only, logged_only):
        assert clean not in codes_by_run(findings)


def test_data_version_tags_come_from_the_policy(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\ndata-version-tags = ["snapshot_id"]\n')
    default_tag = store.good_run(repo, datasets=[])  # dataset_version is no longer accepted
    snapshot = store.good_run(repo, datasets=[], tags={"snapshot_id": "s-77"})
    code, findings = audit_json(store, repo.path, "--select", "MLR601")
    assert (code, codes_by_run(findings)) == (1, {default_tag: {"MLR601"}})
    assert "(snapshot_id)" in findings[0]["message"]
    assert snapshot not in codes_by_run(findings)
