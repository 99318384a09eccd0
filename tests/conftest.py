from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def repo_root() -> Path:
    return ROOT

# Shared test helpers (tests/audit_helpers.py, ...) import as top-level modules from any test
# folder, whatever order pytest collects them in.
sys.path.insert(0, str(Path(__file__).resolve().parent))
