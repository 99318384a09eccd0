"""Fixtures for promote tests (the tracking store fixtures are shared, in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_helpers import Repo, init_repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    # data/train.csv is committed: good_run's dataset reads it, and versioned data is part of "good".
    return init_repo(tmp_path, {"train.py": "print('train')\n", "pyproject.toml": "[tool.mlrepro]\n", "data/train.csv": "x,y\n1,0\n"})
