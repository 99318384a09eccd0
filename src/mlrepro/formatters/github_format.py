"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request."""

from __future__ import annotations

from mlrepro.findings import Finding, Severity
from mlrepro.formatters import Report, subject

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(value: str) -> str:
    # The actions toolkit's escapeData: a raw newline would end the command early.
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    # Properties are "k=v,k=v" ending at "::", so ':' and ',' must not appear raw either.
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(finding: Finding) -> str:
    props = {"title": f"mlrepro ({finding.code})"}
    label = None
    loc, end = finding.location, finding.end_location
    if finding.filename is None:
        label = subject(finding)
    else:
        props["file"] = finding.filename
        if loc is not None and finding.cell is not None:
            # Notebook rows count from the top of a cell; as file lines they would point into
            # the .ipynb JSON, so annotate the file and say where in the message instead.
            label = f"cell {finding.cell}, line {loc.row}"
        elif loc is not None:
            props |= {"line": str(loc.row), "col": str(loc.column)}
            if end is not None:
                props |= {"endLine": str(end.row), "endColumn": str(end.column)}
    text = f"{finding.code} {label}: {finding.message}" if label else f"{finding.code} {finding.message}"
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in props.items())
    return f"::{LEVELS[finding.severity]} {joined}::{escape_data(text)}"


def render(report: Report) -> str:
    # Notes (runs not checked) are about the whole audit: a notice without a file.
    notices = "".join(f"::notice ::{escape_data(note)}\n" for note in report.notes)
    return "".join(command(f) + "\n" for f in report.findings) + notices
