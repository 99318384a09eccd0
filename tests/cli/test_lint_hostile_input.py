"""#17.5: files that crashed or hung the linter become a finding each, and the files next to
them are still linted. Every input is made for real in tmp and linted by the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

UNSEEDED = "import random\n\nrandom.shuffle([1, 2, 3])\n"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A timeout far above any normal run: a hang (a FIFO opened for reading) fails the test.
    return subprocess.run(
        [sys.executable, "-m", "mlrepro", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def notebook(*sources: str, **extra: object) -> str:
    cells = [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": 1} for s in sources]
    return json.dumps({"cells": cells, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5, **extra})


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\n")
    (tmp_path / "dirty.py").write_text(UNSEEDED)
    (tmp_path / "deep.ipynb").write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    # Python refuses to convert a 5,000-digit integer; a notebook's metadata may still hold one.
    (tmp_path / "bigint.ipynb").write_text(notebook(UNSEEDED).replace('"nbformat_minor": 5', '"nbformat_minor": 5, "x": ' + "7" * 5000))
    (tmp_path / "bigint.py").write_text("N = " + "7" * 5000 + "\n")
    (tmp_path / "deep.py").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    os.symlink("loop.py", tmp_path / "loop.py")
    os.mkfifo(tmp_path / "x.py")
    # Over the 10 MB default of max-file-size-kb; comments only, so that the unfixed code copes.
    (tmp_path / "big.py").write_text("# generated\n" * 1_000_000 + UNSEEDED)
    (tmp_path / "utf16.py").write_bytes(UNSEEDED.encode("utf-16"))
    return tmp_path


EXPECTED = {
    ("big.py", "MLR002"),
    ("bigint.ipynb", "MLR101"),
    ("bigint.py", "MLR001"),
    ("deep.ipynb", "MLR003"),
    ("deep.py", "MLR001"),
    ("dirty.py", "MLR101"),
    ("loop.py", "MLR002"),
    ("utf16.py", "MLR002"),
    ("x.py", "MLR002"),
}


@pytest.mark.parametrize("named", [False, True], ids=["walked", "named"])
def test_hostile_files_are_findings_and_the_others_are_still_linted(hostile: Path, named: bool) -> None:
    paths = sorted(name for name, _ in EXPECTED) if named else ["."]
    result = run_cli("lint", *paths, "--output-format", "json", cwd=hostile)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stderr == ""
    found = json.loads(result.stdout)
    assert {(f["filename"], f["code"]) for f in found} == EXPECTED
    messages = {f["filename"]: f["message"] for f in found if f["code"].startswith("MLR00")}
    assert "UTF-16 encoded; mlrepro reads UTF-8" in messages["utf16.py"]
    assert "binary" not in messages["utf16.py"]
    assert "not a regular file (a FIFO)" in messages["x.py"]
    size_kb = round((hostile / "big.py").stat().st_size / 1024)
    assert f"{size_kb} KB is larger than max-file-size-kb = 10240" in messages["big.py"]
    assert "symbolic links" in messages["loop.py"]
    assert "too deeply nested" in messages["deep.ipynb"]
    assert "nested" in messages["deep.py"]


def test_the_file_size_limit_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\nmax-file-size-kb = 1\n")
    (tmp_path / "small.py").write_text(UNSEEDED)
    (tmp_path / "large.py").write_text("# padding\n" * 200 + UNSEEDED)
    result = run_cli("lint", ".", "--output-format", "json", cwd=tmp_path)
    found = {(f["filename"], f["code"]): f["message"] for f in json.loads(result.stdout)}
    assert set(found) == {("large.py", "MLR002"), ("small.py", "MLR101")}
    assert "larger than max-file-size-kb = 1" in found[("large.py", "MLR002")]
