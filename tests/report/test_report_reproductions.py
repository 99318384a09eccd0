"""Reproductions on the page, from both places they come from: one recorded earlier by
`mlrepro reproduce --record`, one re-executed by `mlrepro report --reproduce` itself. Real
training script, real git repository, real SQLite store, real re-executions."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit_helpers import Store, init_repo, register
from conftest import Report
from mlrepro.cli import main
from report_page import parse

# NumPy only (no scikit-learn import): four runs of this script (two trainings, two
# re-executions) are most of the test's time.
TRAIN = """\
import sys

import mlflow
import numpy as np

SEED = int(sys.argv[1]) if len(sys.argv) > 1 else None
noise = np.random.default_rng(SEED).normal(0, 0.5, 1000)
with mlflow.start_run():
    if SEED is not None:
        mlflow.log_param("seed", SEED)
    mlflow.log_metric("accuracy", float((noise > -0.6).mean()))
    mlflow.log_metric("noise_mean", float(noise.mean()))
"""


def _env(store: Store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT", "PYTHONHASHSEED", "MLREPRO_"))}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"})
    return env


def _train(store: Store, cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "train.py", *args], check=False, cwd=cwd, env=_env(store), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = store.client.search_runs([e.experiment_id for e in store.client.search_experiments()], order_by=["attributes.start_time DESC"], max_results=1)
    return str(run.info.run_id)


def test_recorded_and_fresh_reproductions_are_charted(store: Store, tmp_path: Path, report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = init_repo(tmp_path, {"train.py": TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})
    seeded = _train(store, repo.path, "7")
    monkeypatch.chdir(repo.path)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["reproduce", seeded, "--record", "--tracking-uri", store.uri]) == 0, out.getvalue()
    unseeded = _train(store, repo.path)
    register(store.client, "iris", unseeded, stage="Production")

    # The served model's run comes first among the candidates; one reproduction only.
    result = report(repo.path, "--reproduce", "--max-reproductions", "1", uri=store.uri)
    assert result.code == 1, result.err
    page = parse(result.html)
    panels = page.with_class("reproduction")
    assert len(panels) == 2
    texts = {("recorded" if "recorded by mlrepro reproduce" in p.text else "fresh"): p.text for p in panels}
    assert "identical" in texts["recorded"] and seeded[:12] in texts["recorded"]
    assert "diverged" in texts["fresh"] and unseeded[:12] in texts["fresh"] and "re-executed by this report" in texts["fresh"]
    # One chart per reproduction: a tolerance band, the original and the reproduced value per metric.
    charts = page.with_class("repro-chart")
    assert len(charts) == 2
    assert len(page.with_class("band")) == 4 and len(page.with_class("original")) == 4 and len(page.with_class("reproduced")) == 4
    assert "accuracy" in charts[0].text and "noise_mean" in charts[0].text
    assert "diverged" in page.by_id("registry").text  # type: ignore[union-attr]
    assert page.by_id("card-reproductions").text.strip() == "2"  # type: ignore[union-attr]
