"""One tracking store, two repositories: each run is checked against the repository its
recorded remote (``mlflow.source.git.repoURL``) names. Runs of the other repository are not
checked against this one: no MLR502 "commit does not exist", never reproduced, no MLR902."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from audit_helpers import Repo, Store, audit_json, codes_by_run, init_repo
from training_helpers import latest_run_id, training_env

TRAIN = """\
import mlflow

with mlflow.start_run():
    mlflow.log_param("seed", 1)
    mlflow.log_metric("loss", 0.5)
"""


def train(store: Store, repo: Repo) -> str:
    done = subprocess.run([sys.executable, "train.py"], cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return latest_run_id(store)


def audit_text(store: Store, cwd: Path, *args: str) -> tuple[int, str]:
    from mlrepro.cli import main

    out = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            code = main(["audit", "--tracking-uri", store.uri, "--quiet", *args])
    finally:
        os.chdir(previous)
    return code, out.getvalue()


def test_runs_of_another_repository_are_not_checked_against_this_one(tmp_path: Path, store: Store) -> None:
    ours = init_repo(tmp_path / "ours", {"train.py": TRAIN, ".gitignore": "mlruns/\n"})
    theirs = init_repo(tmp_path / "theirs", {"train.py": TRAIN.replace("0.5", "0.25"), ".gitignore": "mlruns/\n"})
    mine, foreign = train(store, ours), train(store, theirs)
    # The premise: MLflow itself recorded each run's remote, and they differ.
    assert store.client.get_run(mine).data.tags["mlflow.source.git.repoURL"] == str(ours.origin)
    assert store.client.get_run(foreign).data.tags["mlflow.source.git.repoURL"] == str(theirs.origin)

    _, findings = audit_json(store, ours.path)
    found = codes_by_run(findings)
    assert "MLR502" not in found.get(foreign, set()), found
    code, text = audit_text(store, ours.path)
    lines = [line for line in text.splitlines() if "not checked against this repository" in line]
    assert len(lines) == 1 and str(theirs.origin) in lines[0] and "1 run" in lines[0], text

    _, findings = audit_json(store, ours.path, "--reproduce")
    found = codes_by_run(findings)
    assert not {"MLR502", "MLR901", "MLR902"} & found.get(foreign, set()), found
    reproductions = store.client.search_runs(
        [e.experiment_id for e in store.client.search_experiments()], filter_string=f"tags.`mlrepro.reproduces` = '{foreign}'"
    )
    assert reproductions == []


def test_repo_may_be_given_once_per_repository(tmp_path: Path, store: Store) -> None:
    ours = init_repo(tmp_path / "ours", {"train.py": TRAIN, ".gitignore": "mlruns/\n"})
    theirs = init_repo(tmp_path / "theirs", {"train.py": TRAIN.replace("0.5", "0.25"), ".gitignore": "mlruns/\n"})
    train(store, ours)
    foreign = train(store, theirs)
    lost = store.good_run(theirs, tags={"mlflow.source.git.commit": "1" * 40, "mlflow.source.git.repoURL": str(theirs.origin)})
    code, text = audit_text(store, tmp_path, "--repo", str(ours.path), "--repo", str(theirs.path))
    assert "not checked against this repository" not in text, text
    _, findings = audit_json(store, tmp_path, "--repo", str(ours.path), "--repo", str(theirs.path))
    found = codes_by_run(findings)
    # Each run is checked against its own repository: theirs holds the first run's commit and
    # not the second's, which MLR502 says of theirs, by path.
    assert "MLR502" not in found.get(foreign, set()), found
    [missing] = [f for f in findings if f["code"] == "MLR502"]
    assert missing["run_id"] == lost and str(theirs.path.resolve()) in missing["message"], missing
