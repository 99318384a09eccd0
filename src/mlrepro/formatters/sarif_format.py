"""SARIF 2.1.0, the format GitHub code scanning and most security dashboards ingest."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlrepro.findings import Finding, Severity
from mlrepro.formatters import Report, run_fields
from mlrepro.registry import PROJECT_URL, Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
# Keyed by version so a future change to what we hash cannot match old alerts by accident.
FINGERPRINT_KEY = "mlrepro/v1"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}

Json = dict[str, Any]


def _fence(code: str) -> str:
    # Longer than any backtick run in the example, so an example containing ``` stays one block.
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def rule_descriptor(rule: Rule) -> Json:
    fence = _fence(rule.example)
    language = "python" if rule.target == "code" else ""
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": f"{rule.why}\n\nExample:\n{rule.example}\n\nFix:\n{rule.fix}",
            "markdown": f"{rule.why}\n\n**Example**\n\n{fence}{language}\n{rule.example}\n{fence}\n\n**Fix**\n\n{rule.fix}",
        },
        "helpUri": rule.url,
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"family": rule.family, "tags": list(dict.fromkeys(("reproducibility", rule.family)))},
    }


def _finding_descriptor(finding: Finding) -> Json:
    # A finding whose rule the report did not list (a plugin, a newer catalogue) still needs a
    # descriptor, or its ruleIndex would point at nothing; say only what the finding knows.
    descriptor: Json = {"id": finding.code, "name": finding.name, "defaultConfiguration": {"level": LEVELS[finding.severity]}}
    if finding.url:
        descriptor["helpUri"] = finding.url
    return descriptor


def _artifact_location(filename: str, root: Path) -> Json:
    path = Path(filename)
    if path.is_absolute():
        try:
            path = path.relative_to(root)
        except ValueError:
            return {"uri": path.as_uri()}  # outside the checkout: no base to be relative to
    # quote() keeps '/' but escapes ':' too, so "a:b.py" cannot be read as a URI scheme.
    return {"uri": quote(path.as_posix()), "uriBaseId": SRCROOT}


def _root_uri(root: Path) -> str:
    uri = root.as_uri()
    # A base URI without the trailing slash would make "src/x.py" resolve beside the root, not in it.
    return uri if uri.endswith("/") else uri + "/"


def _fingerprint(finding: Finding) -> str:
    where = finding.filename if finding.filename is not None else run_fields(finding)["run_id"] or ""
    # Rows are left out on purpose: an edit above a finding must not make it look new.
    return hashlib.sha256("\0".join((finding.code, where, finding.message)).encode("utf-8", "surrogatepass")).hexdigest()


def _result(finding: Finding, rule_index: int, root: Path) -> Json:
    text = finding.message
    if finding.cell is not None:
        # Rows count from the top of the cell; viewers that ignore properties still show this.
        text = f"cell {finding.cell}: {text}"
    result: Json = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": text},
    }
    if finding.filename is not None:
        physical: Json = {"artifactLocation": _artifact_location(finding.filename, root)}
        if finding.location is not None:
            region = {"startLine": finding.location.row, "startColumn": finding.location.column}
            if finding.end_location is not None:
                region |= {"endLine": finding.end_location.row, "endColumn": finding.end_location.column}
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    elif finding.run is not None and finding.run.source_file:
        # A run finding: point at the run's entry point, so code scanning can show it.
        location = {"artifactLocation": _artifact_location(finding.run.source_file, root), "region": {"startLine": 1}}
        result["locations"] = [{"physicalLocation": location}]
    result["partialFingerprints"] = {FINGERPRINT_KEY: _fingerprint(finding)}
    properties: Json = {key: value for key, value in run_fields(finding).items() if value is not None}
    if finding.cell is not None:
        properties["cell"] = finding.cell
    if properties:
        result["properties"] = properties
    return result


def _invocation(report: Report) -> Json:
    invocation: Json = {"executionSuccessful": True}
    if report.notes:
        # What the run did not check (runs of another repository) is about the run, not a result.
        invocation["toolExecutionNotifications"] = [{"level": "note", "message": {"text": note}} for note in report.notes]
    return invocation


def render(report: Report) -> str:
    root = report.root.resolve()
    descriptors = [rule_descriptor(rule) for rule in report.rules]
    index = {rule.code: i for i, rule in enumerate(report.rules)}
    for finding in sorted(report.findings, key=lambda f: f.code):
        if finding.code not in index:
            index[finding.code] = len(descriptors)
            descriptors.append(_finding_descriptor(finding))
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlrepro",
                        "version": report.tool_version,
                        "informationUri": PROJECT_URL,
                        "rules": descriptors,
                    }
                },
                "invocations": [_invocation(report)],
                "originalUriBaseIds": {SRCROOT: {"uri": _root_uri(root)}},
                "results": [_result(f, index[f.code], root) for f in report.findings],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
