"""A JSON array in ruff's ``--output-format json`` shape, so tools that read ruff read us."""

from __future__ import annotations

import json
from typing import Any

from mlrepro.findings import Edit, Finding, Location
from mlrepro.formatters import Report, run_fields


def _location(loc: Location | None) -> dict[str, int] | None:
    return None if loc is None else {"row": loc.row, "column": loc.column}


def _edit(edit: Edit) -> dict[str, Any]:
    out: dict[str, Any] = {"content": edit.content, "location": _location(edit.location), "end_location": _location(edit.end_location)}
    if edit.cell is not None:
        out["cell"] = edit.cell  # a notebook's rows count inside this cell
    return out


def _fix(finding: Finding) -> dict[str, Any] | None:
    if finding.autofix is not None:
        fix = finding.autofix
        return {"applicability": fix.applicability, "message": fix.message, "edits": [_edit(e) for e in fix.edits]}
    if finding.fix is None:
        return None
    # Without a planned fix (no fix option given, or a rule without one) the rule's advice is
    # all there is: ruff's "display-only" says exactly that to its readers.
    return {"applicability": "display-only", "message": finding.fix, "edits": []}


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "name": finding.name,
        "message": finding.message,
        "severity": finding.severity.value,
        "filename": finding.filename,
        "location": _location(finding.location),
        "end_location": _location(finding.end_location),
        "cell": finding.cell,
        "fix": _fix(finding),
        "url": finding.url,
        "noqa_row": finding.location.row if finding.location else None,
        **run_fields(finding),
    }


def render(report: Report) -> str:
    # sort_keys makes the key order independent of how the dict was built, as ruff's is.
    return json.dumps([finding_dict(f) for f in report.findings], indent=2, sort_keys=True) + "\n"
