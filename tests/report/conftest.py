"""Fixtures for `mlrepro report` tests: the real CLI in-process against real SQLite stores
(tests/conftest.py `store`) and real git repositories."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from audit_helpers import Repo, init_repo
from report_helpers import ReportCli, Result


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    # data/train.csv is committed: good_run's dataset reads it, and versioned data is part of "good".
    return init_repo(tmp_path, {"train.py": "print('train')\n", "pyproject.toml": "[tool.mlrepro]\n", "data/train.csv": "x,y\n1,0\n"})


@pytest.fixture
def report(tmp_path: Path) -> ReportCli:
    """``report(cwd, *args, uri=...)``: run `mlrepro report --output <tmp>/out/report.html` as
    users do (in-process: importing mlflow per subprocess costs seconds)."""
    from mlrepro.cli import main

    def run(cwd: Path, *args: str, uri: str | None = None, output: Path | None = None) -> Result:
        page = output or tmp_path / "out" / "report.html"
        page.unlink(missing_ok=True)
        out, err = io.StringIO(), io.StringIO()
        previous = Path.cwd()
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["report", "--output", str(page), *(["--tracking-uri", uri] if uri else []), *args])
        finally:
            os.chdir(previous)
        return Result(code, out.getvalue(), err.getvalue(), page.read_text(encoding="utf-8") if page.exists() else "")

    return run
