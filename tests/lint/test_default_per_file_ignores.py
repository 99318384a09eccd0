"""#12.6: test code, benchmarks and docs are left out of the randomness rules by default, so
that `mlrepro lint .` on a repository reports on training code. A small project tree in tmp,
linted by the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

UNSEEDED = "import random\n\nrandom.shuffle([1, 2, 3])\n"
# MLR301 (tracking hygiene) still applies in tests: a run that is never finished leaks there too.
UNFINISHED = "import wandb\n\nrun = wandb.init(project='p')\n"

NOT_TRAINING = (
    "tests/test_model.py", "tests/unit/helpers.py", "test/check.py", "src/pkg/test_utils.py",
    "src/pkg/utils_test.py", "conftest.py", "benchmarks/bench_loader.py", "benchmark/run.py",
    "docs/conf.py", "docs/examples/quickstart.py",
)


def run_lint(cwd: Path, *args: str) -> tuple[int, set[tuple[str, str]]]:
    result = subprocess.run(
        [sys.executable, "-m", "mlrepro", "lint", *args, "--output-format", "json"], cwd=cwd, capture_output=True,
        text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, {(f["filename"], f["code"]) for f in json.loads(result.stdout)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("train.py", "src/pkg/model.py", "scripts/explore.py", "testing_utils.py", *NOT_TRAINING):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(UNSEEDED)
    (tmp_path / "tests" / "test_tracking.py").write_text(UNFINISHED)
    return tmp_path


TRAINING = {
    ("train.py", "MLR101"), ("src/pkg/model.py", "MLR101"), ("scripts/explore.py", "MLR101"), ("testing_utils.py", "MLR101"),
}


def test_tests_benchmarks_and_docs_are_out_of_the_randomness_rules_by_default(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.mlrepro]\n")
    assert run_lint(project, ".")[1] == TRAINING | {("tests/test_tracking.py", "MLR301")}
    # Without any configuration file, the same defaults.
    (project / "pyproject.toml").unlink()
    assert run_lint(project, ".")[1] == TRAINING | {("tests/test_tracking.py", "MLR301")}


def test_files_named_on_the_command_line_get_the_same_ignores(project: Path) -> None:
    # As in ruff, per-file-ignores apply to every file, however it was found (only excludes
    # need --force-exclude for named files): pre-commit and `lint .` agree.
    (project / "pyproject.toml").write_text("[tool.mlrepro]\n")
    assert run_lint(project, *NOT_TRAINING) == (0, set())
    assert run_lint(project, "tests/test_model.py", "train.py", "--force-exclude") == (1, {("train.py", "MLR101")})


def test_setting_per_file_ignores_replaces_the_defaults(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.mlrepro]\nper-file-ignores = {}\n")
    everything = run_lint(project, ".")[1]
    assert {name for name, code in everything if code == "MLR101"} == {name for name, _ in TRAINING} | set(NOT_TRAINING)
    (project / "pyproject.toml").write_text('[tool.mlrepro.per-file-ignores]\n"scripts/*.py" = ["MLR1"]\n')
    replaced = run_lint(project, ".")[1]
    assert ("scripts/explore.py", "MLR101") not in replaced and ("tests/test_model.py", "MLR101") in replaced


def test_extend_per_file_ignores_adds_to_the_defaults(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.mlrepro.extend-per-file-ignores]\n"scripts/*.py" = ["MLR101"]\n')
    assert run_lint(project, ".")[1] == (TRAINING - {("scripts/explore.py", "MLR101")}) | {("tests/test_tracking.py", "MLR301")}
