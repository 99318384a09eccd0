"""JUnit XML, for CI systems that only show test reports (GitLab, Jenkins, Azure Pipelines)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from mlrepro.findings import Finding, sort_findings
from mlrepro.formatters import Report, subject
from mlrepro.formatters.text_format import where

# XML 1.0 cannot carry these even as character references; ElementTree would write them
# anyway and every parser would then reject the whole report.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _ILLEGAL_XML.sub("", text)


def _failure_case(finding: Finding) -> ET.Element:
    case = ET.Element("testcase", classname=_clean(subject(finding)), name=_clean(f"{finding.code} {finding.name}"))
    failure = ET.SubElement(case, "failure", message=_clean(finding.message), type=finding.code)
    failure.text = _clean(f"{where(finding)}: {finding.message}")
    return case


def render(report: Report) -> str:
    findings = sort_findings(report.findings)
    flagged = {subject(f) for f in findings}
    # A clean file is a passing test case, so a green run still shows what it covered.
    rows = [((subject(f), f.sort_key()), _failure_case(f)) for f in findings]
    rows += [((entry, ()), ET.Element("testcase", classname=_clean(entry), name="mlrepro"))
             for entry in set(report.checked) - flagged]
    suites = ET.Element("testsuites", name="mlrepro")
    suite = ET.SubElement(suites, "testsuite", {
        "name": _clean(f"mlrepro {report.command}"),
        "tests": str(len(rows)),
        "failures": str(len(findings)),
        "errors": "0",
        "skipped": "0",
    })
    # A clean entry never shares its subject with a finding, so sorting never compares () with a sort key.
    suite.extend(case for _, case in sorted(rows, key=lambda row: row[0]))
    if report.notes:  # what was not checked is no test case: the suite's output says it
        ET.SubElement(suite, "system-out").text = _clean("".join(f"info: {note}\n" for note in report.notes))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
