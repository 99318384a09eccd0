"""`mlrepro promote --reproduce` end to end: a seeded training script run for real from a real
git repository into a real SQLite store, registered, then re-executed by the gate before the
alias moves."""

from __future__ import annotations

from pathlib import Path

from audit_helpers import Store, init_repo, register
from promote_helpers import aliases, promote, version_tags
from training_helpers import run_training

TRAIN = """\
import mlflow
import numpy as np

SEED = 7
rng = np.random.default_rng(SEED)
X = rng.normal(size=(200, 3))
y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(0, 0.1, 200)
coef, *_ = np.linalg.lstsq(X, y, rcond=None)
with mlflow.start_run():
    mlflow.log_param("seed", SEED)
    mlflow.set_tag("dataset_version", "synthetic-v1")
    mlflow.log_metric("rmse", float(np.sqrt(np.mean((X @ coef - y) ** 2))))
"""
CONFIG = """\
[tool.mlrepro.audit]
required-tags = ["dataset_version"]
"""


def test_a_seeded_run_is_reproduced_before_the_alias_moves(tmp_path: Path, store: Store) -> None:
    repo = init_repo(tmp_path, {"train.py": TRAIN, "pyproject.toml": CONFIG, ".gitignore": "mlruns/\nmlartifacts/\n"})
    run_id = run_training(store, repo)
    version = register(store.client, "regressor", run_id)

    code, result, err = promote(store, repo.path, "regressor", version, "--to", "champion", "--reproduce")
    assert code == 0, (result, err)
    assert [(g["name"], g["status"]) for g in result["gates"]] == [("audit", "passed"), ("reproduce", "passed")]
    [reproduction] = result["reproduction"]["run_ids"]
    assert result["reproduction"]["verdict"] == "identical"
    assert store.client.get_run(reproduction).data.tags["mlrepro.reproduces"] == run_id
    assert aliases(store, "regressor") == {"champion": version}
    tags = version_tags(store, "regressor", version)
    assert tags["mlrepro.gate"] == "audit,reproduce"
    assert tags["mlrepro.reproduced"] == f"identical {reproduction}"


TIMING_ONLY = """\
import time

import mlflow

SEED = 7
with mlflow.start_run():
    mlflow.log_param("seed", SEED)
    mlflow.set_tag("dataset_version", "synthetic-v1")
    started = time.perf_counter()
    mlflow.log_metric("fit_time", time.perf_counter() - started)
"""


def test_a_run_with_nothing_to_compare_does_not_pass_the_reproduce_gate(tmp_path: Path, store: Store) -> None:
    """The run logs a timing metric only (left out of the comparison): the re-execution
    succeeds but proves nothing, so the gate fails and the registry is unchanged."""
    repo = init_repo(tmp_path, {"train.py": TIMING_ONLY, "pyproject.toml": CONFIG, ".gitignore": "mlruns/\nmlartifacts/\n"})
    run_id = run_training(store, repo)
    version = register(store.client, "regressor", run_id)

    code, result, err = promote(store, repo.path, "regressor", version, "--to", "champion", "--reproduce")
    assert code == 1, (result, err)
    assert [(g["name"], g["status"]) for g in result["gates"]] == [("audit", "passed"), ("reproduce", "failed")]
    assert result["reproduction"]["verdict"] == "not-compared"
    assert any("no metrics to compare" in d for d in result["gates"][1]["details"])
    assert not result["applied"] and result["tags"] == {}
    assert aliases(store, "regressor") == {}
    assert "mlrepro.promoted_by" not in version_tags(store, "regressor", version)
