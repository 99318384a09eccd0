"""The catalogue keeps YAML, check function and fixture in step (one rule = three files)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from mlrepro.registry import REQUIRED_FIELDS, bind, load_catalogue, rules_dir

ROOT = Path(__file__).resolve().parents[1]
LINT_FIXTURES = ROOT / "tests" / "fixtures" / "lint"
CATALOGUE = load_catalogue()


def test_catalogue_is_the_top_level_rules_folder() -> None:
    assert rules_dir().resolve() == (ROOT / "rules").resolve()
    assert {p.stem for p in (ROOT / "rules").glob("*.yaml")} == {r.code for r in CATALOGUE}


@pytest.mark.parametrize("rule", CATALOGUE, ids=lambda r: r.code)
def test_rule_is_documented(rule) -> None:
    assert re.fullmatch(r"MLR\d{3}", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name), "kebab-case name naming the bad pattern"
    for field in REQUIRED_FIELDS:
        assert str(getattr(rule, field if field != "severity" else "severity")).strip(), field
    assert len(rule.why.split()) >= 15, "the why must explain the reproducibility impact"
    assert rule.summary.endswith("."), "summary is one sentence"


@pytest.mark.parametrize("rule", CATALOGUE, ids=lambda r: r.code)
def test_rule_has_its_check(rule) -> None:
    check = bind(rule)
    assert callable(check)
    if rule.target == "code":
        assert rule.check.startswith(("mlrepro.lint.checks.", "mlrepro.lint.meta:"))


@pytest.mark.parametrize("rule", [r for r in CATALOGUE if r.target == "code"], ids=lambda r: r.code)
def test_lint_rule_has_a_fixture_with_an_expected_finding(rule) -> None:
    fixtures = [p for p in LINT_FIXTURES.iterdir() if p.name.startswith(rule.code + "_") or p.stem == rule.code]
    assert fixtures, f"no fixture tests/fixtures/lint/{rule.code}_*.py"
    assert any(f"expect: {rule.code}" in p.read_text("utf-8", "replace") for p in fixtures)


def test_audit_checks_import_no_adapter_package() -> None:
    """Rules see plain records: mlflow, git, dvc and wandb stay in sources/."""
    import ast

    for path in (ROOT / "src" / "mlrepro" / "audit" / "checks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in {"mlflow", "git", "dvc", "wandb"}, f"{path.name} imports {name}"


def test_fixtures_name_existing_rules() -> None:
    codes = {r.code for r in CATALOGUE}
    for path in LINT_FIXTURES.iterdir():
        assert path.name.split("_", 1)[0].split(".", 1)[0] in codes, f"{path.name} names no rule"


@pytest.mark.parametrize("rule", [r for r in CATALOGUE if r.target == "run"], ids=lambda r: r.code)
def test_run_rule_has_a_test_built_on_real_runs(rule) -> None:
    tests = list((ROOT / "tests" / "audit" / "rules").glob(f"test_{rule.code.lower()}_*.py"))
    assert tests, f"no tests/audit/rules/test_{rule.code.lower()}_*.py"
    assert rule.check.startswith("mlrepro.audit.checks.")
    assert getattr(bind(rule), "scope", None) in {"run", "runs", "model"}, "mark the check @run_check/@runs_check/@model_check"


@pytest.mark.parametrize("package", ["mlrepro.lint.checks", "mlrepro.audit.checks"])
def test_every_check_function_is_bound_to_exactly_one_rule(package: str) -> None:
    bound = [r.check for r in CATALOGUE]
    assert len(bound) == len(set(bound)), "two rules share one check"
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        for name, obj in inspect.getmembers(module, inspect.isfunction):
            if obj.__module__ == module.__name__ and not name.startswith("_"):
                assert f"{module.__name__}:{name}" in bound, f"{module.__name__}.{name} is public but no rule names it"


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.yaml")), ids=lambda p: p.stem)
def test_fast_reader_agrees_with_pyyaml(path: Path) -> None:
    import yaml

    from mlrepro.registry import read_simple_yaml

    text = path.read_text(encoding="utf-8")
    fast = read_simple_yaml(text)
    assert fast is not None, f"{path.name} leaves the simple subset: start-up pays for PyYAML"
    assert fast == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    ["code: 'MLR1'\n", "severity: yes\n", "a: b: c\n", "list:\n  - x\n", "why: >\n  folded\n", "n: 12\n", "x: y # c\n"],
)
def test_fast_reader_hands_anything_else_to_pyyaml(text: str) -> None:
    from mlrepro.registry import read_simple_yaml

    assert read_simple_yaml(text) is None



FIX_FIXTURES = ROOT / "tests" / "fixtures" / "fix"


def test_fixable_rules_and_fixers_agree() -> None:
    """A rule is fixable (``fix-applicability`` in its YAML) exactly when a fixer implements it."""
    from mlrepro.lint.fixes import FIXERS

    assert {r.code for r in CATALOGUE if r.fix_applicability} == set(FIXERS)
    assert all(r.target == "code" for r in CATALOGUE if r.fix_applicability)


@pytest.mark.parametrize("rule", [r for r in CATALOGUE if r.fix_applicability], ids=lambda r: r.code)
def test_fixable_rule_has_before_and_after_fixtures(rule) -> None:
    before = [p for p in FIX_FIXTURES.glob(f"{rule.code}_*") if ".fixed." not in p.name]
    assert before, f"no tests/fixtures/fix/{rule.code}_*.py"
    for path in before:
        after = path.with_name(f"{path.stem}.fixed{path.suffix}")
        assert after.is_file(), f"no {after.name}"
        assert after.read_bytes() != path.read_bytes(), f"{after.name} is the before file"
    assert rule.fix_applicability in rule.fix, "the fix text says whether the automatic fix is safe"


def test_fix_fixtures_name_fixable_rules() -> None:
    fixable = {r.code for r in CATALOGUE if r.fix_applicability}
    for path in FIX_FIXTURES.iterdir():
        assert path.name.split("_", 1)[0] in fixable, f"{path.name} names no fixable rule"


def test_fix_applicability_is_checked() -> None:
    import tempfile

    from mlrepro.registry import CatalogueError

    with tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "rules" / "MLR109.yaml").read_text(encoding="utf-8").replace("fix-applicability: safe", "fix-applicability: always")
        (Path(tmp) / "MLR109.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(CatalogueError, match="fix-applicability must be one of"):
            load_catalogue(Path(tmp))
