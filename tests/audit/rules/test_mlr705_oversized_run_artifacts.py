from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_many_small_files_over_the_run_total_are_reported(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text("[tool.mlrepro.audit]\nmax-run-artifacts-mb = 0.005\n")  # 5,242 bytes
    good = store.good_run(repo, artifacts={"a.txt": b"a" * 2000, "b.txt": b"b" * 2000})
    heavy = store.good_run(repo, artifacts={f"ckpt/epoch{i}.pt": b"w" * 1000 for i in range(5)} | {"ckpt/best.pt": b"w" * 1500})
    code, findings = audit_json(store, repo.path, "--select", "MLR705")
    assert (code, codes_by_run(findings)) == (1, {heavy: {"MLR705"}})
    [finding] = findings
    assert finding["message"] == (
        "artifacts total 0.0062 MB in 6 files, over the 0.005 MB per-run limit (`max-run-artifacts-mb`); "
        "largest: artifact ckpt/best.pt (0.00143 MB)"
    )
    assert good not in codes_by_run(findings)


def test_silent_when_artifacts_are_not_listed(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text("[tool.mlrepro.audit]\nmax-run-artifacts-mb = 0.001\n")
    store.good_run(repo, artifacts={"a.txt": b"a" * 4000})
    code, findings = audit_json(store, repo.path, "--select", "MLR705", "--no-artifacts")
    assert (code, findings) == (0, [])
