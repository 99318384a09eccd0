"""`mlrepro audit` and `report` on the oldest MLflow line the package still meets in the wild:
2.22.0 (2025-04; the package declares mlflow>=2.16). The store is written by MLflow 2.22 itself
(a newer MLflow migrates the schema past what 2.22 reads) and read by our CLI running in the same
venv, with the worktree's code first on PYTHONPATH. The venv is cached across sessions and
skipped, with the reason, when it cannot be built here."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from audit_helpers import cached_venv, init_repo

VERSION = "2.22.0"
# SQLAlchemy 2.1 (2026) removed a pool class that MLflow 2.22 imports.
REQUIREMENTS = [f"mlflow=={VERSION}", "sqlalchemy<2.1", "click>=8.1", "PyYAML>=6.0", "Jinja2>=3.1", "GitPython>=3.1.40"]

TRAIN = """\
import mlflow

with mlflow.start_run(run_name="train"):
    mlflow.set_tags({"model_type": "rf", "dataset_version": "v3", "feature_set": "base", "team": "x", "purpose": "test"})
    mlflow.log_param("seed", 7)
    mlflow.log_metric("loss", 0.25)
    mlflow.log_text("big" * 10, "notes.txt")
"""


@pytest.fixture(scope="module")
def python() -> Path:
    found = cached_venv(f"mlflow-{VERSION}", "mlflow", VERSION, REQUIREMENTS)
    if isinstance(found, str):
        pytest.skip(found)
    return found


def _env(uri: str) -> dict[str, str]:
    src = Path(__file__).resolve().parents[2] / "src"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    env.update({"MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(src), "GIT_PYTHON_REFRESH": "quiet"})
    return env


def test_audit_and_report_list_artifacts_on_mlflow_2_22(tmp_path: Path, python: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": TRAIN, ".gitignore": "mlruns/\nmlflow.db\n*.html\n"})
    uri = f"sqlite:///{repo.path / 'mlflow.db'}"
    env = _env(uri)
    made = subprocess.run([str(python), "train.py"], cwd=repo.path, env=env, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    version = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"], env=env, capture_output=True, text=True)
    assert version.stdout.strip() == VERSION

    audited = subprocess.run(
        [str(python), "-m", "mlrepro", "audit", "--quiet", "--isolated", "--output-format", "json"],
        cwd=repo.path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert audited.returncode in (0, 1), audited.stderr
    assert "Traceback" not in audited.stderr and "cannot list artifacts" not in audited.stderr

    page = tmp_path / "report.html"
    reported = subprocess.run(
        [str(python), "-m", "mlrepro", "report", "--output", str(page)],
        cwd=repo.path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert reported.returncode in (0, 1), reported.stderr
    assert page.is_file() and "train" in page.read_text()


def test_report_takes_no_artifacts_as_audit_does(tmp_path: Path, python: Path) -> None:
    """Without listing artifacts: the way around an artifact store that cannot be listed."""
    repo = init_repo(tmp_path, {"train.py": TRAIN, ".gitignore": "mlruns/\nmlflow.db\n"})
    env = _env(f"sqlite:///{repo.path / 'mlflow.db'}")
    made = subprocess.run([str(python), "train.py"], cwd=repo.path, env=env, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    page = tmp_path / "report.html"
    reported = subprocess.run(
        [str(python), "-m", "mlrepro", "report", "--no-artifacts", "--output", str(page)],
        cwd=repo.path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert reported.returncode in (0, 1), reported.stderr
    assert "Runs audited 1 " in " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())
