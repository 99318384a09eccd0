from __future__ import annotations

import hashlib

from audit_helpers import Repo, Store, audit_json, codes_by_run, dvc, git

TAG = "mlrepro.dvc.data/train.csv"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_recorded_md5_differs_from_the_commit(store: Store, repo: Repo) -> None:
    dvc(repo.path, "init", "--quiet")
    git(repo.path, "rm", "-q", "--cached", "data/train.csv")  # moving the file from git to DVC
    (repo.path / "data" / "images").mkdir()
    (repo.path / "data" / "images" / "cat.png").write_bytes(b"\x89PNG fake")
    dvc(repo.path, "add", "--quiet", "data/train.csv", "data/images")
    first = repo.commit({}, "track data with dvc")
    old = md5((repo.path / "data" / "train.csv").read_bytes())
    (repo.path / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n")
    dvc(repo.path, "add", "--quiet", "data/train.csv")
    second = repo.commit({}, "more data")
    new = md5(b"x,y\n1,0\n2,1\n")

    stale = store.good_run(repo, tags={TAG: old})  # trained on the old data, tagged with the new commit
    current = store.good_run(repo, tags={TAG: new})
    at_first = store.good_run(repo, tags={"mlflow.source.git.commit": first, TAG: old})
    not_output = store.good_run(repo, tags={"mlrepro.dvc.data/holdout.csv": new})
    inside_directory = store.good_run(repo, tags={"mlrepro.dvc.data/images/cat.png": "0" * 32})
    unknown_commit = store.good_run(repo, tags={"mlflow.source.git.commit": "f" * 40, TAG: old})
    code, findings = audit_json(store, repo.path, "--select", "MLR604")
    assert code == 1
    assert codes_by_run(findings) == {stale: {"MLR604"}, not_output: {"MLR604"}}
    messages = {f["run_id"]: f["message"] for f in findings}
    assert messages[stale] == (
        f"DVC md5 recorded for data/train.csv ({old}) differs from commit {second[:7]} ({new}): "
        "the run trained on data that its commit does not describe"
    )
    assert messages[not_output] == (
        f"DVC data data/holdout.csv (md5 {new}) is not a DVC output at commit {second[:7]}: "
        "checking out the commit cannot restore the data the run used"
    )
    for clean in (current, at_first, inside_directory, unknown_commit):
        assert clean not in codes_by_run(findings)


def test_quiet_without_dvc_in_the_repository(store: Store, repo: Repo) -> None:
    tagged = store.good_run(repo, tags={TAG: "0" * 32})
    code, findings = audit_json(store, repo.path, "--select", "MLR604")
    assert (code, findings) == (0, [])
    assert tagged
