"""Team rules: declarative run checks written as YAML in the folder ``rules-dir`` names.

``rules-dir`` in ``[tool.mlrepro.audit]`` is relative to the folder of the configuration
file. Every ``*.yaml`` file in it is one rule::

    code: ACME001          # required; upper-case letters then digits, not MLR..., unique
    name: missing-jira-ticket   # default: the code in lower case
    severity: warning      # error | warning | info (default: warning)
    summary: Every run links its Jira ticket.   # default: generated from `require`
    why: ...               # optional
    fix: ...               # optional
    example: ...           # optional
    require:               # exactly one of tag / param / metric
      tag: jira
      pattern: "^ML-[0-9]+$"   # optional, tags and params: the whole value must match
      one-of: [a, b]           # optional, tags and params: the value must be one of these

A tag or param that is absent or blank is "missing"; a metric is missing when the run never
logged it. Team rules are audit rules like the catalogue's: ``--select ACME``, ``--ignore
ACME001`` and ``fail-on`` apply to them. A file that is not valid YAML, has unknown keys, an
invalid regular expression, or a code that is duplicated or starts with ``MLR`` raises
:class:`TeamRuleError` naming the file (``mlrepro audit`` exits 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext
from mlrepro.findings import Severity
from mlrepro.records import RunRecord
from mlrepro.registry import Rule

TeamCheck = Callable[[RunRecord, AuditContext], Iterator[str]]

_KEYS = {"code", "name", "severity", "summary", "why", "fix", "example", "require"}
_REQUIRE_KEYS = {"tag", "param", "metric", "pattern", "one-of"}
_KINDS = ("tag", "param", "metric")
# Upper case: selectors are upper-cased before they are matched against codes.
_CODE = re.compile(r"[A-Z][A-Z0-9]*[0-9]")
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class TeamRuleError(Exception):
    """A team rule file is malformed."""


@dataclass(frozen=True)
class TeamRule(Rule):
    """A rule from the team's ``rules-dir``: its documentation is the file, not the catalogue."""

    path: Path

    @property
    def url(self) -> str:
        return self.path.resolve().as_uri()


@dataclass(frozen=True)
class _Requirement:
    kind: str  # tag | param | metric
    key: str
    pattern: re.Pattern[str] | None
    one_of: tuple[str, ...] | None

    def describe(self) -> str:
        text = f"Runs have the {self.kind} {self.key}"
        if self.pattern is not None:
            text += f" matching {self.pattern.pattern}"
        if self.one_of is not None:
            text += f" set to one of {', '.join(self.one_of)}"
        return text + "."

    def messages(self, run: RunRecord) -> Iterator[str]:
        if self.kind == "metric":
            if self.key not in run.metrics:
                yield f"metric {self.key!r} missing"
            return
        value = (run.tags if self.kind == "tag" else run.params).get(self.key)
        if value is None or not value.strip():
            yield f"{self.kind} {self.key!r} missing or empty"
        elif self.pattern is not None and self.pattern.fullmatch(value) is None:
            yield f"{self.kind} {self.key!r} = {value!r} does not match {self.pattern.pattern!r}"
        elif self.one_of is not None and value not in self.one_of:
            yield f"{self.kind} {self.key!r} = {value!r} is not one of: {', '.join(self.one_of)}"


def _text(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TeamRuleError(f"{where}: {key} must be non-empty text")
    return value.strip()


def _requirement(value: object, where: str) -> _Requirement:
    if not isinstance(value, dict):
        raise TeamRuleError(f"{where}: require must be a mapping with one of tag, param or metric")
    unknown = sorted(str(k) for k in set(value) - _REQUIRE_KEYS)
    if unknown:
        raise TeamRuleError(f"{where}: unknown key(s) in require: {', '.join(unknown)} (expected {', '.join(sorted(_REQUIRE_KEYS))})")
    kinds = [kind for kind in _KINDS if kind in value]
    if len(kinds) != 1:
        raise TeamRuleError(f"{where}: require needs exactly one of tag, param or metric")
    kind = kinds[0]
    key = value[kind]
    if not isinstance(key, str) or not key.strip():
        raise TeamRuleError(f"{where}: require.{kind} must be a name")
    pattern = None
    if "pattern" in value:
        if kind == "metric" or not isinstance(value["pattern"], str):
            raise TeamRuleError(f"{where}: require.pattern must be a regular expression, for a tag or param")
        try:
            pattern = re.compile(value["pattern"])
        except re.error as exc:
            raise TeamRuleError(f"{where}: invalid regular expression {value['pattern']!r}: {exc}") from None
    one_of = None
    if "one-of" in value:
        items = value["one-of"]
        # YAML reads `yes`, `on`, `true` as booleans: a quoted value is what the user meant.
        if (
            kind == "metric"
            or not isinstance(items, list)
            or not items
            or not all(isinstance(i, (str, int, float)) and not isinstance(i, bool) for i in items)
        ):
            raise TeamRuleError(f"{where}: require.one-of must be a non-empty list of strings, for a tag or param")
        one_of = tuple(str(i) for i in items)
    return _Requirement(kind, key.strip(), pattern, one_of)


def _parse(path: Path, data: object, known: dict[str, str]) -> tuple[TeamRule, TeamCheck]:
    where = path.name
    if not isinstance(data, dict):
        raise TeamRuleError(f"{where}: expected a mapping at the top level")
    unknown = sorted(str(k) for k in set(data) - _KEYS)
    if unknown:
        raise TeamRuleError(f"{where}: unknown key(s): {', '.join(unknown)} (expected {', '.join(sorted(_KEYS))})")
    code = data.get("code")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise TeamRuleError(f"{where}: code must be upper-case letters followed by digits (e.g. ACME001), not {code!r}")
    if code.startswith("MLR"):
        raise TeamRuleError(f"{where}: code {code} uses the MLR prefix, which is reserved for mlrepro's own rules")
    if code in known:
        raise TeamRuleError(f"{where}: code {code} is already used by {known[code]}")
    if "require" not in data:
        raise TeamRuleError(f"{where}: missing require (a tag, param or metric)")
    requirement = _requirement(data["require"], where)
    name = _text(data, "name", where) or code.lower()
    if not _NAME.fullmatch(name):
        raise TeamRuleError(f"{where}: name must be kebab-case (e.g. missing-jira-ticket), not {name!r}")
    try:
        severity = Severity.parse(_text(data, "severity", where) or "warning")
    except ValueError as exc:
        raise TeamRuleError(f"{where}: {exc}") from None
    summary = _text(data, "summary", where) or requirement.describe()
    rule = TeamRule(
        code=code,
        name=name,
        family="team",
        severity=severity,
        target="run",
        summary=summary,
        why=_text(data, "why", where) or f"A team rule ({path.name}): {summary}",
        example=_text(data, "example", where) or "",
        fix=_text(data, "fix", where) or f"Log the {requirement.kind} {requirement.key} on every run.",
        check=f"team:{code}",
        path=path,
    )

    @run_check
    def check(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
        return requirement.messages(run)

    return rule, check


def load_team_rules(directory: Path | None) -> list[tuple[Rule, Callable[..., object]]]:
    """Every team rule in ``directory``, sorted by code; [] when no ``rules-dir`` is set."""
    if directory is None:
        return []
    if not directory.is_dir():
        raise TeamRuleError(f"rules-dir {directory} is not a directory")
    import yaml  # only audits with team rules pay for PyYAML

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    known: dict[str, str] = {}
    rules: list[tuple[Rule, Callable[..., object]]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
        except (OSError, UnicodeDecodeError) as exc:
            raise TeamRuleError(f"{path.name}: cannot read team rule: {exc}") from None
        except yaml.YAMLError as exc:
            first = " ".join(str(exc).split())
            raise TeamRuleError(f"{path.name}: invalid YAML: {first}") from None
        rule, check = _parse(path, data, known)
        known[rule.code] = path.name
        rules.append((rule, check))
    return sorted(rules, key=lambda item: item[0].code)
