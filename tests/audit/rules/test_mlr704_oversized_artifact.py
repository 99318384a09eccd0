from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run

LIMITS = "[tool.mlrepro.audit]\nmax-artifact-mb = 0.001\n"  # 1,048 bytes


def test_large_files_are_reported_one_by_one(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text(LIMITS)
    good = store.good_run(repo, artifacts={"notes.txt": b"small"})
    big = store.good_run(repo, artifacts={"data/train.bin": b"x" * 4000, "ckpt/epoch1.pt": b"y" * 2000, "notes.txt": b"ok"})
    code, findings = audit_json(store, repo.path, "--select", "MLR704")
    assert code == 1
    assert codes_by_run(findings) == {big: {"MLR704"}}
    assert sorted(f["message"] for f in findings) == [
        "artifact ckpt/epoch1.pt is 0.00191 MB, over the 0.001 MB limit (`max-artifact-mb`): "
        "data or checkpoints stored as artifacts bloat the store and are not versioned",
        "artifact data/train.bin is 0.00381 MB, over the 0.001 MB limit (`max-artifact-mb`): "
        "data or checkpoints stored as artifacts bloat the store and are not versioned",
    ]
    assert good not in codes_by_run(findings)


def test_silent_when_artifacts_are_not_listed(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text(LIMITS)
    store.good_run(repo, artifacts={"data/train.bin": b"x" * 4000})
    code, findings = audit_json(store, repo.path, "--select", "MLR704", "--no-artifacts")
    assert (code, findings) == (0, [])


def test_logged_model_files_count(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text("[tool.mlrepro.audit]\nmax-artifact-mb = 0.0005\n")  # 524 bytes
    run_id, model_id = store.model_run({"accuracy": 0.9})
    code, findings = audit_json(store, repo.path, "--select", "MLR704")
    assert code == 1 and codes_by_run(findings) == {run_id: {"MLR704"}}
    # MLmodel and the pickled model are over 524 bytes; requirements.txt is not.
    files = {f["message"].split(" is ")[0] for f in findings}
    assert {f"logged model {model_id} file MLmodel", f"logged model {model_id} file python_model.pkl"} <= files
    assert f"logged model {model_id} file requirements.txt" not in files
