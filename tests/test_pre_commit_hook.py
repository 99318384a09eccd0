"""The hook as pre-commit users get it: `pip install .` of this repository into pre-commit's own
virtualenv, run on the staged files of a real git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is in the test extra")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_try_repo_fails_on_unseeded_code_and_passes_once_seeded(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "CI")
    (repo / "train.py").write_text("import random\n\nsamples = [1, 2, 3]\nrandom.shuffle(samples)\n")
    (repo / "README.md").write_text("not python\n")
    git(repo, "add", "train.py", "README.md")
    # try-repo commits a shadow copy of this repository: give git an identity on bare machines.
    identity = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER") for what, value in (("NAME", "CI"), ("EMAIL", "ci@example.com"))}
    env = {**os.environ, **identity, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache")}

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pre-commit", "try-repo", str(ROOT), "mlrepro"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=600,
        )

    failing = try_repo()
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "train.py:4:1: MLR101" in failing.stdout

    (repo / "train.py").write_text("import random\n\nrandom.seed(1234)\nsamples = [1, 2, 3]\nrandom.shuffle(samples)\n")
    git(repo, "add", "train.py")
    passing = try_repo()
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "mlrepro lint" in passing.stdout and "Passed" in passing.stdout


def test_fix_hook_repairs_the_staged_file_and_fails_because_it_changed_it(tmp_path: Path) -> None:
    """``mlrepro-fix`` runs ``lint --fix``: the first run adds the seed and fails, as ruff's hook
    does when it changed a file (pre-commit sees the modification); the second run passes."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    unseeded = "from sklearn.cluster import KMeans\n\n# three clusters\nkm = KMeans(n_clusters=3)\n"
    (repo / "train.py").write_text(unseeded)
    git(repo, "add", "train.py")
    identity = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER") for what, value in (("NAME", "CI"), ("EMAIL", "ci@example.com"))}
    env = {**os.environ, **identity, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache")}

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pre-commit", "try-repo", str(ROOT), "mlrepro-fix"], cwd=repo, env=env, capture_output=True, text=True, timeout=900,
        )

    fixing = try_repo()
    assert fixing.returncode == 1, fixing.stdout + fixing.stderr
    assert "files were modified by this hook" in fixing.stdout
    assert (repo / "train.py").read_text() == (
        "from sklearn.cluster import KMeans\n\nSEED = 0\n\n# three clusters\nkm = KMeans(n_clusters=3, random_state=SEED)\n"
    )
    git(repo, "add", "train.py")
    passing = try_repo()
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "mlrepro lint --fix" in passing.stdout and "Passed" in passing.stdout
