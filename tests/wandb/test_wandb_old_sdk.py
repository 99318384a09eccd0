"""Run directories written by older W&B SDKs, read by our adapter running the current one:
0.23.0 (2025-11, a year before the pinned 0.31.0; the Go core, same layout) and 0.17.9 (the
Python service: no environment record in the log, the program, its arguments and the git
facts only in files/wandb-metadata.json). Each SDK runs in a venv of its own, only to write
the directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit_helpers import codes_by_run
from wandb_helpers import WandbProject, audit_json, produce_runs, sdk_python

from mlrepro.records import FAILED, FINISHED, RUNNING
from mlrepro.sources.wandb_dir import read_run


def old_project(tmp_path_factory: pytest.TempPathFactory, version: str, scenarios: tuple[str, ...], dirty: bool) -> WandbProject:
    python = sdk_python(version)
    if isinstance(python, str):
        pytest.skip(python)
    return produce_runs(tmp_path_factory.mktemp(f"wandb-{version}"), str(python), scenarios, dirty)


@pytest.fixture(scope="module")
def project_0_23(tmp_path_factory: pytest.TempPathFactory) -> WandbProject:
    return old_project(tmp_path_factory, "0.23.0", ("clean", "killed", "raised"), dirty=True)


@pytest.fixture(scope="module")
def project_0_17(tmp_path_factory: pytest.TempPathFactory) -> WandbProject:
    return old_project(tmp_path_factory, "0.17.9", ("clean",), dirty=False)


def test_wandb_0_23_runs_are_audited_like_current_ones(project_0_23: WandbProject) -> None:
    _, findings = audit_json(project_0_23.repo.path)
    found = codes_by_run(findings)
    ids = project_0_23.run_ids
    assert {name: found.get(run_id, set()) for name, run_id in ids.items()} == {
        "clean": set(), "killed": {"MLR707"}, "raised": {"MLR708"}, "dirty": {"MLR504"},
    }
    clean = read_run(project_0_23.run_dir("clean"))
    assert clean.status == FINISHED
    assert clean.params["seed"] == "7" and clean.params["optimizer.name"] == "sgd"
    assert set(clean.metrics) == {"loss", "step_time", "accuracy"}
    assert clean.git_commit == project_0_23.commit
    assert json.loads(clean.tags["mlrepro.command"]) == ["train.py", "--seed", "7", "--variant", "clean"]
    assert read_run(project_0_23.run_dir("killed")).status == RUNNING
    assert read_run(project_0_23.run_dir("raised")).status == FAILED


def test_wandb_0_17_metadata_is_read_from_the_files(project_0_17: WandbProject) -> None:
    run_dir = project_0_17.run_dir("clean")
    assert (run_dir / "files" / "wandb-metadata.json").is_file()
    clean = read_run(run_dir)
    assert clean.status == FINISHED
    assert clean.git_commit == project_0_17.commit
    assert json.loads(clean.tags["mlrepro.command"]) == ["train.py", "--seed", "7", "--variant", "clean"]
    assert clean.tags["mlflow.source.name"] == str(Path(project_0_17.repo.path) / "train.py")
    assert clean.metrics["accuracy"] == pytest.approx(1 - clean.metrics["loss"])
    _, findings = audit_json(project_0_17.repo.path)
    # 0.17 writes no requirements.txt offline: nothing records the environment.
    assert codes_by_run(findings).get(clean.run_id, set()) == {"MLR507"}
