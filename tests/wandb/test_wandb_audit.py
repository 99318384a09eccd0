"""`mlrepro audit` over real W&B offline run directories: each scenario's exact findings, the
run directory in every format, W&B alone or beside an MLflow store, and unusable input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit_helpers import Store, codes_by_run
from wandb_helpers import WandbProject, audit, audit_json

from mlrepro.records import FAILED, FINISHED, RUNNING
from mlrepro.sources.wandb_dir import WandbDirError, WandbDirs, log_records, read_run

EXPECTED = {
    "clean": set(),
    "unseeded": {"MLR506"},
    "untagged": {"MLR701"},
    "killed": {"MLR707"},
    "raised": {"MLR708"},
    "dirty": {"MLR504"},
    "model": {"MLR704", "MLR706"},  # a 2 MiB model over max-artifact-mb = 1, and no metrics
}


def test_each_scenario_gets_exactly_its_findings(wandb_project: WandbProject) -> None:
    # No MLflow store here and none configured: ./wandb is audited alone, found by default.
    assert not (wandb_project.repo.path / "mlflow.db").exists()
    code, findings = audit_json(wandb_project.repo.path)
    assert code == 1
    found = codes_by_run(findings)
    ids = wandb_project.run_ids
    assert {name: found.get(run_id, set()) for name, run_id in ids.items()} == EXPECTED
    for finding in findings:
        name = next(n for n, i in ids.items() if i == finding["run_id"])
        assert finding["source"] == "wandb"
        assert finding["experiment_id"] == "churn"  # the W&B project
        assert finding["run_dir"] == str(wandb_project.run_dir(name).resolve())


def test_the_mapping_reads_the_binary_log(wandb_project: WandbProject) -> None:
    clean = read_run(wandb_project.run_dir("clean"))
    assert clean.status == FINISHED
    assert clean.run_name == "mlp-clean"
    assert clean.params == {"variant": "clean", "lr": "0.1", "optimizer.name": "sgd", "optimizer.momentum": "0.9", "seed": "7"}
    # Numbers only, W&B's bookkeeping (_step, _runtime, _timestamp, _wandb) left out.
    assert set(clean.metrics) == {"loss", "step_time", "accuracy"}
    assert clean.metrics["accuracy"] == pytest.approx(1 - clean.metrics["loss"])
    assert clean.tags["team"] == "fraud" and clean.tags["dataset_version"] == "v3"
    assert clean.git_commit == wandb_project.commit
    assert clean.tags["mlrepro.git.dirty"] == "false"  # code saved and no diff.patch: a clean tree
    assert json.loads(clean.tags["mlrepro.command"]) == ["train.py", "--seed", "7", "--variant", "clean"]
    assert clean.tags["mlrepro.git.cwd"] == "."
    assert len(clean.tags["mlrepro.pip_freeze_sha256"]) == 64
    assert clean.start_time is not None and clean.end_time is not None and clean.end_time >= clean.start_time
    killed = read_run(wandb_project.run_dir("killed"))
    assert killed.status == RUNNING and killed.end_time is None  # no exit record
    assert killed.params["seed"] == "7" and "loss" in killed.metrics
    # Killed with its core once two 32 KiB blocks were on disk (wandb_helpers): the log ends
    # where the core last wrote, on a block boundary (its last record possibly cut there, which
    # the reader accepts) or after a whole record.
    [killed_log] = wandb_project.run_dir("killed").glob("run-*.wandb")
    assert sum(1 for _ in log_records(killed_log)) > 100
    raised = read_run(wandb_project.run_dir("raised"))
    assert raised.status == FAILED and raised.end_time is not None
    assert "accuracy" not in raised.metrics and "loss" in raised.metrics
    model = read_run(wandb_project.run_dir("model"))
    assert model.logged_model and not model.metrics
    [weights] = [a for a in model.artifacts or () if a.model_id]
    assert (weights.path, weights.size_bytes) == ("artifacts/mlp/weights.bin", 2 * 1024 * 1024)
    dirty = read_run(wandb_project.run_dir("dirty"))
    assert dirty.tags["mlrepro.git.dirty"] == "true"
    assert "an uncommitted edit" in (wandb_project.run_dir("dirty") / "files" / "diff.patch").read_text()


def test_text_output_names_the_run_directory(wandb_project: WandbProject) -> None:
    code, out, _ = audit(wandb_project.repo.path, "--wandb-dir", str(wandb_project.run_dir("untagged")))
    assert code == 1
    heading, finding, summary = out.splitlines()
    assert heading.startswith(f"W&B run {wandb_project.run_ids['untagged']} ('mlp-untagged', project 'churn', started ")
    assert heading.endswith(f"{wandb_project.run_dir('untagged').resolve()})")
    assert finding.startswith("  MLR701 required tags missing or empty: model_type, feature_set, team, purpose")
    assert summary == "Found 1 finding."


def test_sarif_carries_the_run_and_validates(wandb_project: WandbProject) -> None:
    import jsonschema

    code, out, _ = audit(wandb_project.repo.path, "--output-format", "sarif", "--select", "MLR504")
    assert code == 1
    log = json.loads(out)
    schema = json.loads((Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    [result] = log["runs"][0]["results"]
    assert result["properties"]["run_id"] == wandb_project.run_ids["dirty"]
    assert result["properties"]["run_dir"] == str(wandb_project.run_dir("dirty").resolve())
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "train.py"


def test_wandb_runs_beside_an_mlflow_store(wandb_project: WandbProject, store: Store, tmp_path: Path) -> None:
    mlflow_run = store.run(name="rf-depth8", params={"max_depth": "8"}, tags={})
    code, findings = audit_json(
        tmp_path, "--tracking-uri", store.uri, "--wandb-dir", str(wandb_project.wandb_dir), "--repo", str(wandb_project.repo.path),
    )
    found = codes_by_run(findings)
    assert code == 1
    assert "MLR501" in found[mlflow_run] and "MLR701" in found[mlflow_run]
    assert found[wandb_project.run_ids["untagged"]] == {"MLR701"}
    # Policy comes from tmp_path's (absent) configuration here: the killed run is not stale yet.
    assert wandb_project.run_ids["killed"] not in found
    sources = {f["run_id"]: f.get("source", "mlflow") for f in findings}
    assert sources[mlflow_run] == "mlflow" and sources[wandb_project.run_ids["raised"]] == "wandb"


def test_the_same_policy_applies(wandb_project: WandbProject) -> None:
    # --select and the configuration's thresholds treat W&B runs like MLflow runs.
    code, findings = audit_json(wandb_project.repo.path, "--select", "MLR7")
    assert {f["code"] for f in findings} == {"MLR701", "MLR704", "MLR706", "MLR707", "MLR708"}
    code, _ = audit_json(wandb_project.repo.path, "--select", "MLR504", "--no-artifacts")
    assert code == 1  # the dirty flag is a tag: it needs no file listing
    # Without a store, --incremental has no state to keep (W&B directories are read in full)
    # and --reproduce has no MLflow run to re-execute: both still audit the W&B runs.
    _, full = audit_json(wandb_project.repo.path)
    _, incremental = audit_json(wandb_project.repo.path, "--incremental")
    assert codes_by_run(incremental) == codes_by_run(full)
    code, reproduced = audit_json(wandb_project.repo.path, "--reproduce", "--select", "MLR9")
    assert (code, reproduced) == (0, [])


# --- unusable input: one line on stderr, exit 2 -------------------------------------------------


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_URI", "MLREPRO_"))}
    return subprocess.run([sys.executable, "-m", "mlrepro", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlrepro: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def broken_copy(wandb_project: WandbProject, tmp_path: Path) -> Path:
    """A copy of the clean run's directory, to damage."""
    target = tmp_path / "wandb" / wandb_project.run_dir("clean").name
    shutil.copytree(wandb_project.run_dir("clean"), target)
    return target


def test_a_truncated_log_is_unusable_input(broken_copy: Path, tmp_path: Path) -> None:
    [log] = broken_copy.glob("run-*.wandb")
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 5])
    _one_line_error(run_cli(tmp_path, "audit", "--wandb-dir", "wandb"), str(log), "truncated")


def test_a_corrupt_log_is_unusable_input(broken_copy: Path, tmp_path: Path) -> None:
    [log] = broken_copy.glob("run-*.wandb")
    data = bytearray(log.read_bytes())
    data[200] ^= 0xFF  # one flipped byte in the first records
    log.write_bytes(bytes(data))
    _one_line_error(run_cli(tmp_path, "audit", "--wandb-dir", "wandb"), str(log), "corrupt")
    log.write_bytes(b"not a log at all")
    _one_line_error(run_cli(tmp_path, "audit", "--wandb-dir", "wandb"), "not a W&B run log")


def test_a_missing_directory_is_unusable_input(tmp_path: Path) -> None:
    _one_line_error(run_cli(tmp_path, "audit", "--wandb-dir", "nowhere"), "nowhere: no such W&B directory")
    (tmp_path / "empty").mkdir()
    _one_line_error(run_cli(tmp_path, "audit", "--wandb-dir", "empty"), "no W&B run directories")


def test_the_log_reader_checks_every_record(wandb_project: WandbProject) -> None:
    [log] = wandb_project.run_dir("clean").glob("run-*.wandb")
    assert sum(1 for _ in log_records(log)) > 10
    with pytest.raises(WandbDirError, match="no W&B run nope"):
        WandbDirs.open([wandb_project.wandb_dir]).find("nope")
