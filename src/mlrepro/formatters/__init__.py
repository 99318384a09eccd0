"""Output formats. Each module exposes ``render(report: Report) -> str``; nothing here prints."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from mlrepro import __version__
from mlrepro.findings import Finding, RunRef
from mlrepro.redaction import redact
from mlrepro.registry import Rule

FORMATS = ("text", "json", "sarif", "github", "junit")


@dataclass(frozen=True)
class FixSummary:
    """What ``lint --fix`` did or could do, for the text summary (ruff's wording)."""

    applied: bool = False  # fixes were written (``--fix``)
    fixed: tuple[tuple[str, str, str], ...] = ()  # (file, code, rule name) of each finding fixed
    fixable: int = 0  # findings left with a fix that ``--fix`` applies
    hidden: int = 0  # findings left with an unsafe fix (``--unsafe-fixes`` enables it)
    show: bool = False  # ``--show-fixes``: list the fixes made, mark fixable findings ``[*]``
    unsafe: bool = False  # ``--unsafe-fixes``: unsafe fixes count as fixable


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    # The rules that were enabled (SARIF lists them; JUnit makes one test case per file x rule).
    rules: tuple[Rule, ...] = ()
    # What was checked: file paths for lint, "run <id>" labels for audit. JUnit lists them all.
    checked: tuple[str, ...] = ()
    command: str = "lint"
    root: Path = field(default_factory=Path.cwd)
    tool_version: str = __version__
    # audit: the configured threshold for a failing exit (note, warning, error)
    fail_on: str = "note"
    # audit: one-line facts about what was not checked (runs of another repository). Text
    # lists them as "info:" lines, SARIF as notifications, GitHub as notices, JUnit in
    # system-out; JSON keeps ruff's plain array (the CLI puts them on stderr).
    notes: tuple[str, ...] = ()
    # lint with a fix option: what was fixed and what could be (None: fixes not computed)
    fixes: FixSummary | None = None


def subject(finding: Finding) -> str:
    """What a finding is about: its file, else the run label audit lists in ``Report.checked``."""
    if finding.filename is not None:
        return finding.filename
    run = finding.run or RunRef()
    if run.run_id:
        return f"run {run.run_id}"
    return f"model {run.model}" if run.model else "-"


def run_fields(finding: Finding) -> dict[str, str | None]:
    """The tracked-run identifiers machine-readable formats carry (None where unknown).
    W&B runs also carry their source and directory (their experiment id is the project)."""
    run = finding.run or RunRef()
    fields = {"run_id": run.run_id, "experiment_id": run.experiment_id, "model": run.model}
    if run.source == "wandb":
        fields |= {"source": run.source, "run_dir": run.run_dir}
    return fields


def render(fmt: str, report: Report) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    module = importlib.import_module(f"mlrepro.formatters.{fmt}_format")
    return redact(module.render(report))  # messages quote tag values, URIs and log lines
