from __future__ import annotations

import contextlib
import io
import json
import os

from audit_helpers import Repo, Store

from mlrepro.cli import main


def sarif(store: Store, repo: Repo, *args: str) -> dict:
    out = io.StringIO()
    previous = os.getcwd()
    os.chdir(repo.path)
    try:
        with contextlib.redirect_stdout(out):
            main(["audit", "--tracking-uri", store.uri, "--output-format", "sarif", "--quiet", *args])
    finally:
        os.chdir(previous)
    return json.loads(out.getvalue())


def test_run_findings_point_at_the_run_source_file_in_the_repo(store: Store, repo: Repo) -> None:
    inside = store.good_run(repo, tags={"team": ""})
    elsewhere = store.good_run(repo, tags={"team": "", "mlflow.source.name": "/home/alice/scratch/train.py"})
    results = sarif(store, repo, "--select", "MLR701")["runs"][0]["results"]
    by_run = {r["properties"]["run_id"]: r for r in results}
    located = by_run[inside]["locations"][0]["physicalLocation"]
    assert located["artifactLocation"]["uri"] == "train.py"
    assert located["region"] == {"startLine": 1}
    assert "locations" not in by_run[elsewhere]
