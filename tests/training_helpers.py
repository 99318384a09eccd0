"""A real training script (scikit-learn on iris, logging to MLflow) that tests commit into a
tmp git repository and run as a user does, seeded or not; shared by the reproduce and the
reproduction-rule tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from audit_helpers import Repo, Store

TRAIN = """\
import sys

import mlflow
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

SEED = {seed}
X, y = load_iris(return_X_y=True)
noise = np.random.default_rng(SEED).normal(0, 0.5, X.shape) if SEED is not None else np.random.normal(0, 0.5, X.shape)
X_train, X_test, y_train, y_test = train_test_split(X + noise, y, test_size=0.3, random_state=SEED)
with mlflow.start_run():
    if SEED is not None:
        mlflow.log_param("seed", SEED)
    model = RandomForestClassifier(n_estimators=20, random_state=SEED).fit(X_train, y_train)
    mlflow.log_metric("accuracy", model.score(X_test, y_test))
    # Accuracy on 45 samples takes few values: two unseeded runs can agree on it by chance,
    # they cannot agree on these.
    mlflow.log_metric("noise_mean", float(noise.mean()))
    mlflow.log_metric("noise_sum", float(noise.sum()))
    mlflow.log_metric("train_time", 0.123 if SEED is None else 0.5)
    {after}
"""


def training_env(store: Store) -> dict[str, str]:
    """This environment without what would steer a training run (a run id, a seed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT", "PYTHONHASHSEED", "MLREPRO_"))}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"})
    return env


def latest_run_id(store: Store) -> str:
    [run] = store.client.search_runs([e.experiment_id for e in store.client.search_experiments()], order_by=["attributes.start_time DESC"], max_results=1)
    return str(run.info.run_id)


def run_training(store: Store, repo: Repo, succeeds: bool = True) -> str:
    """Run the repository's train.py as a user does; the id of the run it logged."""
    done = subprocess.run([sys.executable, "train.py"], cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=300, check=False)
    assert (done.returncode == 0) == succeeds, done.stderr[-3000:]
    return latest_run_id(store)


def reproduce_json(store: Store, repo: Repo, run_id: str, *args: str) -> tuple[int, dict, str]:
    """``mlrepro reproduce RUN_ID --output-format json`` in a fresh process, from the repository."""
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", run_id, "--tracking-uri", store.uri, "--output-format", "json", *args],
        cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else {}), done.stderr
