"""The shapes the nightly report passes around. A night is plain JSON data (``dict``), so the
same structure is saved in the history folder and rendered by the template."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrepro.formatters import Report
from mlrepro.records import ModelVersionRecord, RunRecord

# The night file format; bumped when a field changes meaning, so old history is still read.
SCHEMA = 1

Night = dict[str, Any]


@dataclass
class AuditDetails:
    """What an audit saw besides its findings, filled by ``api.audit_report(details=...)``."""

    tracking_uri: str = ""  # already redacted
    repo_root: Path | None = None
    repo_commit: str | None = None
    runs: list[RunRecord] = field(default_factory=list)
    versions: list[ModelVersionRecord] = field(default_factory=list)
    # run id -> ReproResult or bulk.NotStarted, for reproductions this audit ran
    reproductions: dict[str, object] = field(default_factory=dict)
    # runs of a repository that no audited one is: not checked against any (Report.notes say which)
    not_checked: int = 0


@dataclass(frozen=True)
class NightlyReport:
    report: Report  # the audit's findings, for exit codes and the other formatters
    html_path: Path
    # runs, runs_with_errors, score (None without runs), findings by severity,
    # reproductions by outcome (reproduced, diverged, failed), models_in_use
    summary: dict[str, Any]
    night: Night = field(default_factory=dict, repr=False)
    # History files left out of the trend ("2026-11-25.json: not valid JSON ..."), for stderr.
    skipped_history: tuple[str, ...] = ()
