"""The rule catalogue: one YAML per rule under ``rules/``, shipped inside the wheel.

The YAML is the documentation and the metadata (code, name, severity, ...); the ``check``
field names the function that implements it. Engines look their checks up by code through
:func:`bind`, so the catalogue test can prove the three (YAML, check, fixture) agree.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mlrepro.config import ConfigError, Settings
from mlrepro.findings import Severity
from mlrepro.selection import SelectionLayer, normalise_selectors, resolve

PROJECT_URL = "https://github.com/mlrepro/mlrepro"
# The documentation site (mkdocs.yml and docs/): every rule has its page at rules/<CODE>/, which
# findings, SARIF and `mlrepro rules CODE` link to. The site's build reads its site_url from here.
DOCS_URL = "https://mlrepro.readthedocs.io/en/latest/"
REQUIRED_FIELDS = ("code", "name", "family", "severity", "target", "summary", "why", "example", "fix", "check")
TARGETS = ("code", "run")
# ``fix-applicability`` (optional, lint rules only): the rule has an automatic fix, ``safe`` or
# ``unsafe`` in ruff's sense (``mlrepro lint --fix`` applies safe ones; unsafe ones need
# ``--unsafe-fixes``). A fix may still be downgraded to unsafe case by case (the YAML's ``fix``
# text says when).
FIX_APPLICABILITIES = ("safe", "unsafe")


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
    # "safe" / "unsafe" when ``lint --fix`` can repair it. Keyword-only, so that subclasses
    # (the team's rules) may add fields without defaults.
    fix_applicability: str | None = field(default=None, kw_only=True)

    @property
    def url(self) -> str:
        return f"{DOCS_URL}rules/{self.code}/"

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
            "fix_applicability": self.fix_applicability,
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
    applicability = data.get("fix-applicability")
    if applicability is not None and (applicability not in FIX_APPLICABILITIES or data["target"] != "code"):
        raise CatalogueError(
            f"{path.name}: fix-applicability must be one of {FIX_APPLICABILITIES} (lint rules only), not {applicability!r}"
        )
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
        fix_applicability=applicability,
    )


_PLAIN_KEY = re.compile(r"([a-z][a-z_-]*):(?: (.*))?")
_UNSAFE_PLAIN = re.compile(r"""^[-?:,\[\]{}#&*!|>'"%@`]|: | #|^(?:true|false|yes|no|on|off|null|~|[-+.0-9].*)$""", re.I)


def read_simple_yaml(text: str) -> dict[str, str] | None:
    """The subset of YAML the rule files use: ``key: plain text`` and ``key: |`` literal blocks.

    Importing PyYAML costs more than the rest of ``mlrepro lint``'s start-up, so rule files are
    read with this; anything outside the subset returns None and goes to PyYAML. A catalogue
    test proves both readers agree on every rule file.
    """
    data: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        match = _PLAIN_KEY.fullmatch(line)
        if match is None or match.group(1) in data:
            return None
        key, value = match.group(1), (match.group(2) or "").rstrip()
        if value == "|":
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            if not block:
                return None
            indent = len(block[0]) - len(block[0].lstrip(" "))
            if indent == 0 or any(b.strip() and not b.startswith(" " * indent) for b in block):
                return None
            data[key] = "\n".join(b[indent:] for b in block) + "\n"
        elif value and not _UNSAFE_PLAIN.search(value):
            data[key] = value
        else:
            return None
    return data


def _load_yaml(text: str) -> object:
    import yaml  # only for rule files outside the simple subset

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader


@functools.lru_cache(maxsize=None)
def load_catalogue(directory: Path | None = None) -> tuple[Rule, ...]:
    """Every rule, sorted by code. Raises :class:`CatalogueError` on a broken catalogue."""
    directory = directory or rules_dir()
    rules: dict[str, Rule] = {}
    names: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
            data = read_simple_yaml(text)
            if data is None:
                data = _load_yaml(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogueError(f"{path.name}: cannot read rule: {exc}") from None
        except Exception as exc:  # yaml.YAMLError, without importing yaml to name it
            raise CatalogueError(f"{path.name}: invalid YAML: {exc}") from None
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


_TEAM_CODE = re.compile(r"""^code:\s*["']?([A-Za-z][A-Za-z0-9]*)""", re.MULTILINE)


def team_rule_codes(settings: Settings) -> tuple[str, ...]:
    """The codes of the team's rules (``[tool.mlrepro.audit] rules-dir``), read from their
    ``code:`` lines only: valid selectors for every command (ruff's ``lint.external``), while
    only ``audit`` pays for loading and checking the rules themselves."""
    rules_dir = settings.section("audit").get("rules-dir")
    if not isinstance(rules_dir, str):
        return ()
    codes: list[str] = []
    try:
        for path in sorted((settings.root / rules_dir).glob("*.yaml")):
            if path.is_file():  # never open a FIFO
                codes.extend(m.upper() for m in _TEAM_CODE.findall(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return tuple(codes)  # an unreadable folder is `audit`'s error to report
    return tuple(codes)


def enabled_codes(settings: Settings, codes: Iterable[str], extra_known: Iterable[str] | None = None) -> frozenset[str]:
    """Which of ``codes`` the configuration and command line leave on. A selector that matches
    no rule of the whole catalogue (lint or audit) nor a team rule (``extra_known``, by default
    read from ``rules-dir``) is a configuration error naming the file and key, not a silent
    no-op: a shared ``ignore = ["MLR5"]`` must not break ``mlrepro lint``, ``E501`` must."""
    team = team_rule_codes(settings) if extra_known is None else tuple(extra_known)
    known = [rule.code for rule in load_catalogue()] + list(team)
    where = f"{settings.config_path}: [tool.mlrepro] " if settings.config_path is not None else "[tool.mlrepro] "
    layers = []
    for origin, layer in zip((where, "--"), settings.layers):
        try:
            layers.append(
                SelectionLayer(
                    select=None if layer.select is None else normalise_selectors(layer.select, known, f"{origin}select"),
                    ignore=normalise_selectors(layer.ignore, known, f"{origin}ignore"),
                    extend_select=normalise_selectors(layer.extend_select, known, f"{origin}extend-select"),
                )
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    for glob, prefixes in settings.per_file_ignores:
        try:
            normalise_selectors(prefixes, known, f"{where}per-file-ignores.{glob!r}")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return resolve(codes, layers)


def fixable_codes(settings: Settings, codes: Iterable[str]) -> frozenset[str]:
    """Which of ``codes`` ``lint --fix`` may repair: ``fixable`` (default: all) minus
    ``unfixable``, by prefix as for ``select``; a selector naming no rule is a configuration
    error, as it is for ``select``."""
    known = [rule.code for rule in load_catalogue()]
    where = f"{settings.config_path}: [tool.mlrepro] " if settings.config_path is not None else "[tool.mlrepro] "
    try:
        layer = SelectionLayer(
            select=normalise_selectors(settings.fixable, known, f"{where}fixable") if settings.fixable is not None else ("ALL",),
            ignore=normalise_selectors(settings.unfixable, known, f"{where}unfixable"),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return resolve(codes, [layer])
