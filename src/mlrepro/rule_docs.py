"""Rule documentation as text, JSON or Markdown (``mlrepro rules``).

The documentation site's rule pages are this Markdown, generated when the site is built
(``docs/hooks.py``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable

from mlrepro.registry import Rule


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rules: Iterable[Rule]) -> str:
    lines = ["| Code | Name | Family | Severity | Fix | What it finds |", "| --- | --- | --- | --- | --- | --- |"]
    for rule in rules:
        lines.append(
            f"| [{rule.code}]({rule.url}) | `{rule.name}` | {rule.family} | {rule.severity.value} | {rule.fix_applicability or ''} | {_cell(rule.summary)} |"
        )
    return "\n".join(lines) + "\n"


def autofix(rule: Rule) -> str:
    """How ``lint --fix`` treats the rule, in one line."""
    if rule.fix_applicability == "safe":
        return "yes, safe (`mlrepro lint --fix`)"
    if rule.fix_applicability == "unsafe":
        return "yes, unsafe (`mlrepro lint --fix --unsafe-fixes`)"
    return "no"


def render_rule(rule: Rule, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rule.to_dict(), indent=2) + "\n"
    if fmt == "markdown":
        return (
            f"# {rule.name} ({rule.code})\n\n"
            f"Family: {rule.family} · Severity: {rule.severity.value} · Applies to: {rule.target}\n\n"
            f"## What it does\n{rule.summary}\n\n"
            f"## Why is this bad?\n{rule.why}\n\n"
            f"## Example\n```{example_language(rule)}\n{rule.example}\n```\n\n"
            f"## How to fix\n{rule.fix}\n"
            + (f"\nFixable: {autofix(rule)}.\n" if rule.target == "code" else "")
        )
    indented = "\n".join("    " + line if line else "" for line in rule.example.splitlines())
    return (
        f"{rule.code} {rule.name} ({rule.family}, {rule.severity.value})\n\n"
        f"{rule.summary}\n\n"
        f"Why it matters:\n{rule.why}\n\n"
        f"Example:\n{indented}\n\n"
        f"Fix:\n{rule.fix}\n\n"
        + (f"Fixable: {autofix(rule)}.\n\n" if rule.target == "code" else "")
        + f"Docs: {rule.url}\n"
    )


def render_catalogue(rules: Iterable[Rule], fmt: str, full: bool = False) -> str:
    rules = list(rules)
    if fmt == "json":
        return json.dumps([rule.to_dict() for rule in rules], indent=2) + "\n"
    if full:
        separator = "\n---\n\n" if fmt == "markdown" else "\n" + "-" * 72 + "\n\n"
        return separator.join(render_rule(rule, fmt) for rule in rules)
    if fmt == "markdown":
        return markdown_table(rules)
    width = max(len(rule.name) for rule in rules)
    return "".join(f"{rule.code}  {rule.name:<{width}}  {rule.severity.value:<7}  {rule.summary}\n" for rule in rules)


def example_language(rule: Rule) -> str:
    """How to highlight a rule's example: lint rules show Python; a run rule's example may be
    a command line (``git commit ... && python train.py``), which does not parse."""
    if rule.target == "code":
        return "python"
    try:
        ast.parse(rule.example)
    except SyntaxError:
        return "shell"
    return "python"
