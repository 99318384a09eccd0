"""Every lint rule against its annotated fixtures: exactly the expected lines, no others."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixture_annotations import expected_findings, fixture_code
from mlrepro.config import CliOverrides, resolve_settings
from mlrepro.lint.engine import Linter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
CASES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".py", ".ipynb"))


@pytest.mark.parametrize("fixture", CASES, ids=[p.name for p in CASES])
def test_fixture(fixture: Path) -> None:
    code = fixture_code(fixture)
    settings = resolve_settings(FIXTURES, overrides=CliOverrides(select=(code,)), isolated=True)
    findings = Linter(settings).lint_file(fixture)
    actual = {(f.cell, f.location.row, f.code) for f in findings if f.location}
    expected, annotations = expected_findings(fixture)
    assert annotations, f"{fixture.name} has no '# expect:' or '# ok' annotation"
    assert {c for _, _, c in expected} <= {code}, f"{fixture.name} expects codes of other rules"
    missing = sorted(expected - actual, key=str)
    unexpected = sorted(actual - expected, key=str)
    messages = {(f.cell, f.location.row, f.code): f.message for f in findings if f.location}
    assert not missing and not unexpected, (
        f"missing: {missing}\nunexpected: {[(k, messages[k]) for k in unexpected]}"
    )
