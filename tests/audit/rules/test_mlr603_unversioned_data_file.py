from __future__ import annotations

import hashlib
import json
import shlex
import sys

from audit_helpers import Repo, Store, audit_json, codes_by_run, dvc, git


def local(path: str, name: str = "train") -> list[tuple[str, str | None, str, str]]:
    # MLflow keeps one dataset per (experiment, name, digest) with the first source logged
    # under it: each path gets its own digest.
    digest = hashlib.md5(path.encode()).hexdigest()[:8]
    return [(name, digest, "local", json.dumps({"uri": path}))]


def message(path: str, commit: str, name: str = "train") -> str:
    return (
        f"dataset '{name}' reads {path}, which commit {commit[:7]} neither tracks in git nor versions "
        "with DVC: the exact data cannot be recovered"
    )


def test_local_file_outside_git_is_reported(store: Store, repo: Repo) -> None:
    head = git(repo.path, "rev-parse", "HEAD")
    (repo.path / "data" / "extra.csv").write_text("x,y\n")  # on disk, never committed
    good = store.good_run(repo)  # data/train.csv is committed
    absolute_tracked = store.good_run(repo, datasets=local((repo.path / "data" / "train.csv").as_uri()))
    untracked = store.good_run(repo, datasets=local("./data/extra.csv"))
    absolute_untracked = store.good_run(repo, datasets=local(str(repo.path / "data" / "extra.csv"), "extra"))
    remote = store.good_run(repo, datasets=[("train", "a1b2c3d4", "s3", json.dumps({"uri": "s3://bucket/train.csv"}))])
    outside = store.good_run(repo, datasets=local("/srv/shared/train.csv"))
    no_commit = store.good_run(None, datasets=local("data/extra.csv"))
    # Trained in another checkout: the script path locates that checkout's root.
    elsewhere = {"mlflow.source.name": "/home/alice/project/train.py"}
    other_tracked = store.good_run(repo, tags=elsewhere, datasets=local("/home/alice/project/data/train.csv"))
    other_untracked = store.good_run(repo, tags=elsewhere, datasets=local("/home/alice/project/data/extra.csv"))
    code, findings = audit_json(store, repo.path, "--select", "MLR603")
    assert code == 1
    assert codes_by_run(findings) == {untracked: {"MLR603"}, absolute_untracked: {"MLR603"}, other_untracked: {"MLR603"}}
    messages = {f["run_id"]: f["message"] for f in findings}
    assert messages[untracked] == message("data/extra.csv", head)
    assert messages[absolute_untracked] == message("data/extra.csv", head, "extra")
    for clean in (good, absolute_tracked, remote, outside, no_commit, other_tracked):
        assert clean not in codes_by_run(findings)


def test_relative_path_from_the_script_directory(store: Store, repo: Repo) -> None:
    repo.commit({"src/train.py": "print('train')\n"}, "move script")
    script = {"mlflow.source.name": str(repo.path / "src" / "train.py")}
    from_src = store.good_run(repo, tags=script, datasets=local("../data/train.csv"))
    missing = store.good_run(repo, tags=script, datasets=local("../data/other.csv"))
    code, findings = audit_json(store, repo.path, "--select", "MLR603")
    assert (code, codes_by_run(findings)) == (1, {missing: {"MLR603"}})
    assert findings[0]["message"].startswith("dataset 'train' reads data/other.csv, which commit")
    assert from_src not in codes_by_run(findings)


def test_dvc_outputs_count_as_versioned(store: Store, repo: Repo) -> None:
    before = git(repo.path, "rev-parse", "HEAD")
    (repo.path / "data" / "big.csv").write_text("a,b\n" + "1,2\n" * 100)
    (repo.path / "data" / "images").mkdir()
    (repo.path / "data" / "images" / "cat.png").write_bytes(b"\x89PNG fake")
    copy = f"{shlex.quote(sys.executable)} -c \"import shutil; shutil.copy('data/big.csv', 'data/features.csv')\""
    (repo.path / "dvc.yaml").write_text(
        f"stages:\n  features:\n    cmd: {copy}\n    deps:\n    - data/big.csv\n    outs:\n    - data/features.csv\n"
    )
    dvc(repo.path, "init", "--quiet")
    dvc(repo.path, "add", "--quiet", "data/big.csv", "data/images")
    dvc(repo.path, "repro", "--quiet")
    after = repo.commit({}, "version data with dvc")
    assert (repo.path / "dvc.lock").is_file()
    tracked = {
        "dvc-file": store.good_run(repo, datasets=local("data/big.csv")),
        "in-directory-output": store.good_run(repo, datasets=local("data/images/cat.png")),
        "directory-output": store.good_run(repo, datasets=local("data/images")),
        "lock-output": store.good_run(repo, datasets=local("data/features.csv")),
        "git": store.good_run(repo),
    }
    (repo.path / "data" / "scratch.csv").write_text("x\n")
    scratch = store.good_run(repo, datasets=local("data/scratch.csv"))
    old_commit = store.good_run(repo, tags={"mlflow.source.git.commit": before}, datasets=local("data/big.csv"))
    code, findings = audit_json(store, repo.path, "--select", "MLR603")
    assert code == 1
    assert codes_by_run(findings) == {scratch: {"MLR603"}, old_commit: {"MLR603"}}
    messages = {f["run_id"]: f["message"] for f in findings}
    assert messages[scratch] == message("data/scratch.csv", after)
    assert messages[old_commit] == message("data/big.csv", before)
    for label, run in tracked.items():
        assert run not in codes_by_run(findings), label
