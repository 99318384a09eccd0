"""Numeric options that would silently switch a check off (NaN, infinity) are usage errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlrepro.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--reproduce", "--timeout", "nan"],
        ["audit", "--reproduce", "--timeout", "inf"],
        ["report", "--output", "r.html", "--timeout", "nan"],
        ["reproduce", "abc", "--timeout", "nan"],
        ["reproduce", "abc", "--rtol", "nan"],
        ["reproduce", "abc", "--atol", "-inf"],
        ["reproduce", "abc", "--tolerance", "loss=nan"],
        ["promote", "m", "1", "--to", "champion", "--timeout", "nan"],
        ["promote", "m", "1", "--to", "champion", "--rtol", "inf"],
    ],
)
def test_nan_and_infinity_are_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    os.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    option = next(a for a in args if a.startswith("--") and a not in ("--reproduce", "--output", "--to"))
    assert option in err and "finite" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mlflow.db").exists()
