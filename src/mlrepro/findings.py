"""The one shape every engine produces and every formatter consumes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(str, enum.Enum):
    """How bad a finding is. Ordered: ``INFO < WARNING < ERROR``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls(value.lower())
        except ValueError:
            raise ValueError(
                f"unknown severity {value!r} (expected one of: {', '.join(s.value for s in cls)})"
            ) from None


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based row and column, as ruff and flake8 print them."""

    row: int
    column: int


@dataclass(frozen=True)
class RunRef:
    """Which tracked run (or model version) a run finding is about."""

    run_id: str | None = None
    experiment_id: str | None = None
    model: str | None = None  # "name/version" for registry findings
    source: str | None = None  # "mlflow" or "wandb"
    run_name: str | None = None
    experiment_name: str | None = None
    start_time: str | None = None  # ISO 8601, UTC
    # The run's entry-point file relative to the audited repository, when it lies inside it:
    # SARIF attaches run findings there, since code scanning shows only findings with a file.
    source_file: str | None = None
    run_dir: str | None = None  # a W&B run's directory (source "wandb")


@dataclass(frozen=True)
class Edit:
    """Replace the text from ``location`` up to (not including) ``end_location`` with ``content``
    (an insertion when the two are equal). Positions as a finding's: 1-based, in characters;
    in a notebook, rows count inside ``cell``."""

    content: str
    location: Location
    end_location: Location
    cell: int | None = None


@dataclass(frozen=True)
class Fix:
    """A repair ``mlrepro lint --fix`` can make, in ruff's terms: ``safe`` fixes keep every
    result the program could already produce; ``unsafe`` ones may change results (applied
    only with ``--unsafe-fixes``)."""

    applicability: str  # "safe" or "unsafe"
    message: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    severity: Severity
    filename: str | None = None
    location: Location | None = None
    end_location: Location | None = None
    # Notebook findings: the 1-based code cell; location.row is then the line inside that cell.
    cell: int | None = None
    fix: str | None = None
    url: str | None = None
    run: RunRef | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # The edits that repair it, when fixes were computed (``lint --fix``, ``--diff``,
    # ``--show-fixes``); ``fix`` above stays the rule's advice in words.
    autofix: Fix | None = field(default=None, compare=False, hash=False)

    def sort_key(self) -> tuple[str, str, str, str, int, int, int, str]:
        loc = self.location or Location(0, 0)
        run = self.run or RunRef()
        return (self.filename or "", run.start_time or "", run.run_id or "", run.model or "", self.cell or 0, loc.row, loc.column, self.code)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Deterministic output order: file, cell, row, column, code; runs by start time, then id."""
    return sorted(findings, key=Finding.sort_key)
