from __future__ import annotations

from pathlib import Path

from audit_helpers import Repo, Store, audit_json, codes_by_run, git


def test_uncommitted_script_is_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    (repo.path / "train_v2.py").write_text("print('v2')\n")  # written, never committed
    head = git(repo.path, "rev-parse", "HEAD")
    script = repo.path / "train_v2.py"
    new = store.good_run(repo, tags={"mlflow.source.name": str(script)})
    code, findings = audit_json(store, repo.path, "--select", "MLR505")
    assert code == 1
    assert codes_by_run(findings) == {new: {"MLR505"}}
    assert findings[0]["severity"] == "warning"
    assert findings[0]["message"] == (
        f"source {script} is not a file of commit {head[:12]}: the script that ran was never committed "
        f"(or lives outside {repo.path.resolve()}), so checking out the commit does not give back its code"
    )
    assert good not in codes_by_run(findings)


def test_paths_from_other_machines_and_working_directories(store: Store, repo: Repo) -> None:
    repo.commit({"src/models/fit.py": "print('fit')\n"}, "fit")
    clean = [
        store.good_run(repo, tags={"mlflow.source.name": "/home/alice/project/src/models/fit.py"}),  # another checkout
        store.good_run(repo, tags={"mlflow.source.name": "C:\\Users\\alice\\project\\train.py"}),
        store.good_run(repo, tags={"mlflow.source.name": "train.py"}),  # python train.py at the root
        store.good_run(repo, tags={"mlflow.source.name": "models/fit.py"}),  # cd src && python models/fit.py
        store.good_run(repo, tags={"mlflow.source.name": "../src/models/fit.py"}),
    ]
    elsewhere = store.good_run(repo, tags={"mlflow.source.name": "/opt/jobs/nightly.py"})
    notebook = store.good_run(repo, tags={"mlflow.source.name": "scratch.py"})
    code, findings = audit_json(store, repo.path, "--select", "MLR505")
    assert codes_by_run(findings) == {elsewhere: {"MLR505"}, notebook: {"MLR505"}}
    assert not set(clean) & set(codes_by_run(findings))


def test_mlflow_projects(store: Store, repo: Repo) -> None:
    project = {"mlflow.source.type": "PROJECT"}
    repo.commit({"projects/churn/MLproject": "name: churn\n"}, "project")
    clean = [
        store.good_run(repo, tags={**project, "mlflow.source.name": f"file://{repo.path}#projects/churn"}),
        store.good_run(repo, tags={**project, "mlflow.source.name": repo.origin.as_uri()}),
        # Unknown commit but our own remote: MLR502 says it, not this rule.
        store.good_run(repo, tags={**project, "mlflow.source.name": f"{repo.origin.as_uri()}#projects/churn",
                                   "mlflow.source.git.commit": "0" * 40, "mlflow.source.git.repoURL": str(repo.origin)}),
    ]
    missing_subdir = store.good_run(repo, tags={**project, "mlflow.source.name": "https://github.com/acme/churn#projects/fraud"})
    other_repo = store.good_run(repo, tags={**project, "mlflow.source.name": "https://github.com/acme/other.git#train",
                                            "mlflow.source.git.commit": "1" * 40})
    # Recorded as another repository's run: not checked against this one at all (the audit's
    # summary says so), so not this rule's either.
    store.good_run(repo, tags={**project, "mlflow.source.name": "https://github.com/acme/other.git#train",
                               "mlflow.source.git.commit": "1" * 40, "mlflow.source.git.repoURL": "https://github.com/acme/other.git"})
    code, findings = audit_json(store, repo.path, "--select", "MLR505")
    assert codes_by_run(findings) == {missing_subdir: {"MLR505"}, other_repo: {"MLR505"}}
    messages = {f["run_id"]: f["message"] for f in findings}
    assert messages[missing_subdir].startswith("project subdirectory projects/fraud (source https://github.com/acme/churn#projects/fraud) is not in commit")
    assert messages[other_repo] == (
        f"the run's project https://github.com/acme/other.git is not a remote of the audited repository {repo.path.resolve()}: "
        "its code lives elsewhere (audit with --repo pointing at a clone of that project)"
    )
    assert not set(clean) & set(messages)


def test_quiet_without_repository(store: Store, repo: Repo, tmp_path: Path) -> None:
    store.good_run(repo, tags={"mlflow.source.name": "/opt/jobs/nightly.py"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, findings = audit_json(store, elsewhere, "--select", "MLR505")
    assert (code, findings) == (0, [])
