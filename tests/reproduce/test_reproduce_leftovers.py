"""What a reproduction leaves and says beyond its verdict: a command killed at the timeout
leaves none of its temporary files behind, and the original run's own status stands beside
the result (a run that FAILED at the time and fails again is no regression)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from audit_helpers import Store, init_repo
from training_helpers import latest_run_id, training_env

# Writes a model file in TMPDIR as training libraries do, sleeps as long as it is told (so the
# reproduction, told to sleep long, meets the timeout) and fails at the end, as the original did.
TRAIN = """\
import os
import tempfile
import time

import mlflow

fd, path = tempfile.mkstemp(prefix="model-", suffix=".lgb")
os.write(fd, b"weights")
os.close(fd)
with mlflow.start_run():
    mlflow.log_param("seed", 1)
    mlflow.log_metric("loss", 0.25)
    time.sleep(float(os.environ.get("TRAIN_SLEEP", "0")))
    os.remove(path)
    raise SystemExit("validation set missing")
"""


def reproduce(store: Store, cwd: Path, run_id: str, tmpdir: Path, sleep: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**training_env(store), "TMPDIR": str(tmpdir), "TRAIN_SLEEP": sleep}
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", run_id, "--tracking-uri", store.uri, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_timeout_leaves_no_temporary_files_and_the_original_status_is_shown(tmp_path: Path, store: Store) -> None:
    repo = init_repo(tmp_path / "project", {"train.py": TRAIN, ".gitignore": "mlruns/\nmlartifacts/\n"})
    first = subprocess.run([sys.executable, "train.py"], cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=300)
    assert first.returncode != 0 and "validation set missing" in first.stderr
    run_id = latest_run_id(store)
    assert store.client.get_run(run_id).info.status == "FAILED"

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    done = reproduce(store, repo.path, run_id, tmpdir, "120", "--timeout", "3", "--output-format", "json")
    result = json.loads(done.stdout)
    assert (done.returncode, result["verdict"]) == (1, "failed"), result
    assert any("timeout" in note for note in result["notes"])
    assert result["original_status"] == "FAILED"
    assert sorted(os.listdir(tmpdir)) == []

    done = reproduce(store, repo.path, run_id, tmpdir, "0")
    assert done.returncode == 1
    assert "  original run: FAILED" in done.stdout.splitlines(), done.stdout
    assert sorted(os.listdir(tmpdir)) == []
