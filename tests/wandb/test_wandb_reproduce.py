"""`mlrepro reproduce wandb:RUN_ID`: real W&B runs re-executed at their commit by the real CLI
in a fresh process, W&B offline into a fresh directory, compared like MLflow runs."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from audit_helpers import codes_by_run, findings_of, git
from wandb_helpers import WandbProject, audit_json


def reproduce(project: WandbProject, run: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(project.env)
    env.pop("WANDB_MODE")  # the reproduction must put W&B offline itself (the base URL still refuses connections)
    return subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", run, "--wandb-dir", str(project.wandb_dir), "--output-format", "json", *args],
        cwd=project.repo.path, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def results(wandb_project: WandbProject) -> dict[str, tuple[int, dict[str, Any]]]:
    """Three reproductions at once (each is mostly W&B start-up, waiting)."""
    before = sorted(p.name for p in wandb_project.wandb_dir.iterdir())
    asks = {
        "clean": ("--history",),
        "unseeded": (),
        "dirty": ("--apply-diff",),
    }

    def one(name: str) -> tuple[int, dict[str, Any]]:
        done = reproduce(wandb_project, f"wandb:{wandb_project.run_ids[name]}", *asks[name])
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}

    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        out = dict(zip(asks, pool.map(one, asks)))
    # The user's wandb/ directory and working tree are untouched; every worktree is gone.
    assert sorted(p.name for p in wandb_project.wandb_dir.iterdir()) == before
    assert git(wandb_project.repo.path, "status", "--porcelain") == ""
    assert len(git(wandb_project.repo.path, "worktree", "list").splitlines()) == 1
    return out


def test_a_seeded_run_comes_back_identical(results: dict[str, tuple[int, dict[str, Any]]], wandb_project: WandbProject) -> None:
    code, result = results["clean"]
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["run_id"] == wandb_project.run_ids["clean"]
    assert set(result["metrics"]) == {"loss", "accuracy"}  # step_time is a timing metric: left out
    assert result["metrics"]["accuracy"]["abs_diff"] == 0.0
    assert result["code"] == {"commit": wandb_project.commit, "patch_applied": False, "entry_point": "capture"}
    assert result["command"][1:] == ["train.py", "--seed", "7", "--variant", "clean"]
    assert result["history"]["loss"]["outcome"] == "identical" and result["history"]["loss"]["steps"] == 5
    assert result["params_match"] is True
    # The reproduction is a W&B run of its own, in a fresh directory, written offline.
    [new_id] = result["reproduction_run_ids"]
    [where] = [n for n in result["notes"] if n.startswith("reproductions run W&B offline into ")]
    from mlrepro.sources.wandb_dir import WandbDirs

    reproduced = WandbDirs.open([Path(where.rsplit(" ", 1)[-1])]).get_run(new_id)
    assert reproduced.metrics == pytest.approx(WandbDirs.open([wandb_project.wandb_dir]).get_run(result["run_id"]).metrics, rel=0, abs=0)
    assert reproduced.git_commit == wandb_project.commit


def test_an_unseeded_run_diverges(results: dict[str, tuple[int, dict[str, Any]]]) -> None:
    code, result = results["unseeded"]
    assert (code, result["verdict"]) == (1, "diverged"), result
    assert result["metrics"]["loss"]["outcome"] == "diverged"
    assert any("recorded no seed" in note for note in result["notes"])


def test_a_dirty_run_comes_back_with_its_diff(results: dict[str, tuple[int, dict[str, Any]]]) -> None:
    code, result = results["dirty"]
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["code"]["patch_applied"] is True
    assert any("diff.patch" in note for note in result["notes"])


def _one_line_error(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlrepro: error: ") and needle in lines[0], done.stderr


def test_unusable_input(wandb_project: WandbProject, tmp_path: Path) -> None:
    _one_line_error(reproduce(wandb_project, "wandb:nosuchrun"), f"no run nosuchrun in W&B directory {wandb_project.wandb_dir}")
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", "wandb:abc", "--wandb-dir", str(tmp_path / "missing")],
        cwd=wandb_project.repo.path, env=wandb_project.env, capture_output=True, text=True, timeout=120,
    )
    _one_line_error(done, "no such W&B directory")
    _one_line_error(reproduce(wandb_project, f"wandb:{wandb_project.run_ids['clean']}", "--record"), "--record")


def test_audit_reproduce_judges_wandb_runs(wandb_project: WandbProject) -> None:
    # The runs with error findings are re-executed (the killed one is RUNNING: left out).
    _, findings = audit_json(wandb_project.repo.path, "--reproduce", "--jobs", "3", "--apply-diff")
    found = codes_by_run(findings)
    ids = wandb_project.run_ids
    assert {name: found.get(ids[name], set()) & {"MLR901", "MLR902"} for name in ("unseeded", "untagged", "dirty", "killed")} == {
        "unseeded": {"MLR901"}, "untagged": set(), "dirty": set(), "killed": set(),
    }, [f["message"] for f in findings_of(findings, "MLR902")]  # why a reproduction failed, when one does
    [diverged] = findings_of(findings, "MLR901")
    assert diverged["run_dir"] == str(wandb_project.run_dir("unseeded").resolve())
    assert "loss" in diverged["message"]


def test_a_run_directory_damaged_after_the_audit_is_one_failed_reproduction(wandb_project: WandbProject, tmp_path: Path) -> None:
    import shutil

    from mlrepro.reproduce.bulk import NotStarted, reproduce_many
    from mlrepro.reproduce.wandb_target import WandbTarget
    from mlrepro.sources.wandb_dir import WandbDirs

    copy = tmp_path / "wandb"
    shutil.copytree(wandb_project.run_dir("clean"), copy / wandb_project.run_dir("clean").name)
    dirs = WandbDirs.open([copy], require_runs=True)
    [log] = copy.glob("*/run-*.wandb")
    log.write_bytes(b"not a W&B log at all")  # e.g. a sync job rewrote it while the audit ran
    outcomes = reproduce_many(WandbTarget(dirs), [wandb_project.run_ids["clean"]], wandb_project.repo.path)
    [outcome] = outcomes.values()
    assert isinstance(outcome, NotStarted) and outcome.verdict == "failed"
    assert "not a W&B log" in outcome.reason or "header" in outcome.reason, outcome.reason
