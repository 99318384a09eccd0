"""The rule catalogue: one YAML per rule under ``rules/``, shipped inside the wheel.

The YAML is the documentation and the metadata (code, name, severity, ...); the ``check``
field names the function that implements it. Engines look their checks up by code through
:func:`bind`, so the catalogue test can prove the three (YAML, check, fixture) agree.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mlrepro.findings import Severity

PROJECT_URL = "https://github.com/mlrepro/mlrepro"
REQUIRED_FIELDS = ("code", "name", "family", "severity", "target", "summary", "why", "example", "fix", "check")
TARGETS = ("code", "run")


class CatalogueError(Exception):
    """The rule catalogue is missing or one of its YAML files is malformed."""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    family: str
    severity: Severity
    target: str  # "code" for lint rules, "run" for audit rules
    summary: str
    why: str
    example: str
    fix: str
    check: str  # "module.path:function"

    @property
    def url(self) -> str:
        return f"{PROJECT_URL}/blob/main/rules/{self.code}.yaml"

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "name": self.name,
            "family": self.family,
            "severity": self.severity.value,
            "target": self.target,
            "summary": self.summary,
            "why": self.why,
            "example": self.example,
            "fix": self.fix,
            "check": self.check,
            "url": self.url,
        }


def rules_dir() -> Path:
    """Where the YAML catalogue is: inside the installed package, else the source checkout."""
    packaged = Path(__file__).with_name("rules")
    if packaged.is_dir():
        return packaged
    # Editable installs and plain source checkouts: <repo>/src/mlrepro/registry.py -> <repo>/rules
    source = Path(__file__).resolve().parents[2] / "rules"
    if source.is_dir():
        return source
    raise CatalogueError(f"rule catalogue not found (looked in {packaged} and {source})")


def _parse_rule(path: Path, data: object) -> Rule:
    if not isinstance(data, dict):
        raise CatalogueError(f"{path.name}: expected a mapping at the top level")
    missing = [key for key in REQUIRED_FIELDS if not str(data.get(key) or "").strip()]
    if missing:
        raise CatalogueError(f"{path.name}: missing or empty field(s): {', '.join(missing)}")
    if path.stem != data["code"]:
        raise CatalogueError(f"{path.name}: file name does not match its code {data['code']!r}")
    if data["target"] not in TARGETS:
        raise CatalogueError(f"{path.name}: target must be one of {TARGETS}, not {data['target']!r}")
    try:
        severity = Severity.parse(str(data["severity"]))
    except ValueError as exc:
        raise CatalogueError(f"{path.name}: {exc}") from None
    return Rule(
        code=str(data["code"]),
        name=str(data["name"]),
        family=str(data["family"]),
        severity=severity,
        target=str(data["target"]),
        summary=str(data["summary"]).strip(),
        why=str(data["why"]).strip(),
        example=str(data["example"]).rstrip(),
        fix=str(data["fix"]).strip(),
        check=str(data["check"]),
    )


@functools.lru_cache(maxsize=None)
def load_catalogue(directory: Path | None = None) -> tuple[Rule, ...]:
    """Every rule, sorted by code. Raises :class:`CatalogueError` on a broken catalogue."""
    import yaml  # deferred: `mlrepro --version` should not pay for it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    directory = directory or rules_dir()
    rules: dict[str, Rule] = {}
    names: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CatalogueError(f"{path.name}: cannot read rule: {exc}") from None
        rule = _parse_rule(path, data)
        if rule.name in names:
            raise CatalogueError(f"{path.name}: name {rule.name!r} is already used by {names[rule.name]}")
        names[rule.name] = rule.code
        rules[rule.code] = rule
    if not rules:
        raise CatalogueError(f"no rules found in {directory}")
    return tuple(rules[code] for code in sorted(rules))


def rules_for(target: str, catalogue: Iterable[Rule] | None = None) -> tuple[Rule, ...]:
    return tuple(rule for rule in (catalogue or load_catalogue()) if rule.target == target)


def find_rule(code_or_name: str, catalogue: Iterable[Rule] | None = None) -> Rule | None:
    wanted = code_or_name.strip()
    for rule in catalogue or load_catalogue():
        if rule.code == wanted.upper() or rule.name == wanted:
            return rule
    return None


def bind(rule: Rule) -> object:
    """Import and return the check function a rule names."""
    import importlib

    module_name, _, attr = rule.check.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise CatalogueError(f"{rule.code}: check {rule.check!r} cannot be loaded: {exc}") from None
