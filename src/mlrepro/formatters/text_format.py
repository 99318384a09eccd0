"""ruff/flake8 text: ``path:row:col: CODE message`` and a closing count."""

from __future__ import annotations

from mlrepro.findings import Finding
from mlrepro.formatters import Report


def where(finding: Finding) -> str:
    if finding.filename is None:
        return finding.run.run_id if finding.run and finding.run.run_id else "-"
    loc = finding.location
    if loc is None:
        return finding.filename
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{finding.filename}:{cell}{loc.row}:{loc.column}"


def summary_line(count: int) -> str:
    if count == 0:
        return "All checks passed!"
    return f"Found {count} finding{'s' if count != 1 else ''}."


def render(report: Report) -> str:
    lines = [f"{where(f)}: {f.code} {f.message}" for f in report.findings]
    lines.append(summary_line(len(report.findings)))
    return "\n".join(lines) + "\n"
