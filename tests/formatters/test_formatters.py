"""Every machine-readable output format, checked against what its consumers require."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlrepro.findings import Finding, Location, RunRef, Severity
from mlrepro.formatters import FORMATS, Report, render
from mlrepro.registry import Rule, find_rule, load_catalogue

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"


def rule(code: str) -> Rule:
    found = find_rule(code)
    assert found is not None, code
    return found


def code_finding(filename: str = "src/train.py", message: str = "`random.shuffle` is used but `random` is never seeded") -> Finding:
    r = rule("MLR101")
    return Finding(
        code=r.code, name=r.name, message=message, severity=r.severity, filename=filename,
        location=Location(12, 5), end_location=Location(12, 28), fix=r.fix, url=r.url,
    )


def notebook_finding() -> Finding:
    r = rule("MLR101")
    return Finding(
        code=r.code, name=r.name, message="`random.choice` is used but `random` is never seeded",
        severity=Severity.WARNING, filename="notebooks/explore.ipynb", location=Location(3, 1), cell=4, fix=None,
        url=r.url,
    )


def syntax_finding() -> Finding:
    r = rule("MLR001")
    return Finding(
        code=r.code, name=r.name, message="invalid syntax", severity=r.severity, filename="src/broken.py",
        location=Location(1, 9), fix=r.fix, url=r.url,
    )


def run_finding() -> Finding:
    # A code that is not in the catalogue: the audit engine may report rules the lint report did not list.
    return Finding(
        code="MLR999", name="run-without-git-commit", message="run has no `mlflow.source.git.commit` tag",
        severity=Severity.INFO, run=RunRef(run_id="3f2a9c", experiment_id="7", model="churn-model"),
        url="https://github.com/mlrepro/mlrepro/blob/main/rules/MLR999.yaml",
    )


def full_report(tmp_path: Path) -> Report:
    findings = [syntax_finding(), notebook_finding(), code_finding(), run_finding()]
    return Report(
        findings=findings, rules=load_catalogue(), checked=("src/broken.py", "src/clean.py", "src/train.py", "notebooks/explore.ipynb"),
        root=tmp_path,
    )


# --- dispatch -----------------------------------------------------------------------------------


def test_unknown_format_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown output format 'nope'"):
        render("nope", Report(findings=[], root=tmp_path))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_through_the_dispatcher(fmt: str, tmp_path: Path) -> None:
    out = render(fmt, full_report(tmp_path))
    assert out.endswith("\n")
    assert "MLR101" in out


# --- json ---------------------------------------------------------------------------------------


def test_json_uses_ruff_field_names_and_values(tmp_path: Path) -> None:
    data = json.loads(render("json", Report(findings=[code_finding()], root=tmp_path)))
    r = rule("MLR101")
    assert data == [
        {
            "code": "MLR101",
            "name": "unseeded-python-random",
            "message": "`random.shuffle` is used but `random` is never seeded",
            "severity": "error",
            "filename": "src/train.py",
            "location": {"row": 12, "column": 5},
            "end_location": {"row": 12, "column": 28},
            "cell": None,
            "fix": {"applicability": "display-only", "message": r.fix, "edits": []},
            "url": r.url,
            "noqa_row": 12,
            "run_id": None,
            "experiment_id": None,
            "model": None,
        }
    ]


def test_json_notebook_run_and_missing_fix(tmp_path: Path) -> None:
    nb, run = json.loads(render("json", Report(findings=[notebook_finding(), run_finding()], root=tmp_path)))
    assert (nb["cell"], nb["location"], nb["end_location"], nb["fix"], nb["severity"]) == (4, {"row": 3, "column": 1}, None, None, "warning")
    assert (run["filename"], run["location"], run["noqa_row"], run["cell"]) == (None, None, None, None)
    assert (run["run_id"], run["experiment_id"], run["model"], run["severity"]) == ("3f2a9c", "7", "churn-model", "info")


def test_json_is_deterministic_with_sorted_keys(tmp_path: Path) -> None:
    report = full_report(tmp_path)
    out = render("json", report)
    assert out == render("json", report)
    assert out.endswith("]\n") and out.startswith("[\n  {\n")
    for obj in json.loads(out):
        assert list(obj) == sorted(obj)


def test_json_empty_report_is_an_empty_array(tmp_path: Path) -> None:
    assert render("json", Report(findings=[], root=tmp_path)) == "[]\n"


# --- sarif --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def sarif(report: Report, validator: jsonschema.Draft4Validator) -> dict[str, Any]:
    log = json.loads(render("sarif", report))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert not errors, errors
    return log


def test_the_schema_rejects_what_it_should(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    # Guards the guard: a validation that passes everything would make the tests below vacuous.
    log = json.loads(render("sarif", full_report(tmp_path)))
    log["runs"][0]["results"][0]["level"] = "fatal"
    log["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    del log["runs"][0]["tool"]["driver"]["name"]
    assert len(list(sarif_validator.iter_errors(log))) == 3


def test_sarif_full_report_is_valid_and_complete(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    report = full_report(tmp_path)
    log = sarif(report, sarif_validator)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["informationUri"]) == ("mlrepro", report.tool_version, "https://github.com/mlrepro/mlrepro")
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.resolve().as_uri() + "/"}}
    ids = [d["id"] for d in driver["rules"]]
    assert ids == [r.code for r in report.rules] + ["MLR999"]
    results = run["results"]
    assert len(results) == len(report.findings)
    for result, finding in zip(results, report.findings):
        assert result["ruleId"] == finding.code
        assert driver["rules"][result["ruleIndex"]]["id"] == finding.code


def test_sarif_rule_descriptor_from_catalogue(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    r = rule("MLR101")
    log = sarif(Report(findings=[], rules=(r,), root=tmp_path), sarif_validator)
    (descriptor,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert descriptor["id"] == "MLR101"
    assert descriptor["name"] == r.name
    assert descriptor["shortDescription"] == {"text": r.summary}
    assert descriptor["fullDescription"] == {"text": r.why}
    assert descriptor["helpUri"] == r.url
    assert descriptor["defaultConfiguration"] == {"level": "error"}
    assert descriptor["properties"] == {"family": "seeds", "tags": ["reproducibility", "seeds"]}
    for field in ("text", "markdown"):
        assert r.why in descriptor["help"][field] and r.example in descriptor["help"][field] and r.fix in descriptor["help"][field]
    assert "```python\n" in descriptor["help"]["markdown"]


def test_sarif_levels_follow_each_finding_severity(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    log = sarif(full_report(tmp_path), sarif_validator)
    assert [r["level"] for r in log["runs"][0]["results"]] == ["error", "warning", "error", "note"]
    minimal = log["runs"][0]["tool"]["driver"]["rules"][-1]
    assert minimal == {
        "id": "MLR999", "name": "run-without-git-commit", "defaultConfiguration": {"level": "note"},
        "helpUri": "https://github.com/mlrepro/mlrepro/blob/main/rules/MLR999.yaml",
    }


def test_sarif_file_finding_location(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    finding = code_finding(filename="src/my models/train:v2.py")
    (result,) = sarif(Report(findings=[finding], rules=load_catalogue(), root=tmp_path), sarif_validator)["runs"][0]["results"]
    (location,) = result["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "src/my%20models/train%3Av2.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12, "startColumn": 5, "endLine": 12, "endColumn": 28},
    }
    assert result["message"] == {"text": finding.message}
    assert "properties" not in result
    expected = hashlib.sha256(f"MLR101\0src/my models/train:v2.py\0{finding.message}".encode()).hexdigest()
    assert result["partialFingerprints"] == {"mlrepro/v1": expected}


def test_sarif_absolute_filenames_become_relative_to_root(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    inside = code_finding(filename=(tmp_path / "pkg" / "a.py").as_posix())
    outside = code_finding(filename=(tmp_path.parent / "elsewhere.py").as_posix())
    results = sarif(Report(findings=[inside, outside], root=tmp_path), sarif_validator)["runs"][0]["results"]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "pkg/a.py", "uriBaseId": "%SRCROOT%"}
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": (tmp_path.parent / "elsewhere.py").as_uri()}


def test_sarif_notebook_finding_carries_its_cell(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    (result,) = sarif(Report(findings=[notebook_finding()], root=tmp_path), sarif_validator)["runs"][0]["results"]
    assert result["properties"] == {"cell": 4}
    assert result["message"]["text"].startswith("cell 4: ")
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3, "startColumn": 1}


def test_sarif_run_finding_has_no_location_but_run_properties(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    (result,) = sarif(Report(findings=[run_finding()], root=tmp_path), sarif_validator)["runs"][0]["results"]
    assert "locations" not in result
    assert result["properties"] == {"run_id": "3f2a9c", "experiment_id": "7", "model": "churn-model"}
    assert result["ruleIndex"] == 0


def test_sarif_empty_report(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    log = sarif(Report(findings=[], root=tmp_path), sarif_validator)
    (run,) = log["runs"]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []


def test_sarif_fingerprint_ignores_row_moves(tmp_path: Path) -> None:
    moved = Finding(**{**code_finding().__dict__, "location": Location(40, 5), "end_location": None})
    logs = [json.loads(render("sarif", Report(findings=[f], root=tmp_path))) for f in (code_finding(), moved)]
    prints = [log["runs"][0]["results"][0]["partialFingerprints"] for log in logs]
    assert prints[0] == prints[1]
    other = json.loads(render("sarif", Report(findings=[code_finding(filename="src/other.py")], root=tmp_path)))
    assert other["runs"][0]["results"][0]["partialFingerprints"] != prints[0]


# --- github -------------------------------------------------------------------------------------


def test_github_annotation_for_a_file_finding(tmp_path: Path) -> None:
    out = render("github", Report(findings=[code_finding()], root=tmp_path))
    assert out == (
        "::error title=mlrepro (MLR101),file=src/train.py,line=12,col=5,endLine=12,endColumn=28::"
        "MLR101 `random.shuffle` is used but `random` is never seeded\n"
    )


def test_github_escapes_data_and_properties(tmp_path: Path) -> None:
    finding = code_finding(filename="data/a,b:c%.py", message="100% unseeded\nsecond line\r")
    (line,) = render("github", Report(findings=[finding], root=tmp_path)).splitlines()
    assert "file=data/a%2Cb%3Ac%25.py," in line
    assert line.endswith("::MLR101 100%25 unseeded%0Asecond line%0D")


def test_github_levels_notebook_and_run_findings(tmp_path: Path) -> None:
    nb, run = render("github", Report(findings=[notebook_finding(), run_finding()], root=tmp_path)).splitlines()
    # Cell-relative rows would be wrong as .ipynb file lines: the file is annotated, the cell named.
    assert nb == "::warning title=mlrepro (MLR101),file=notebooks/explore.ipynb::MLR101 cell 4, line 3: `random.choice` is used but `random` is never seeded"
    assert run == "::notice title=mlrepro (MLR999)::MLR999 run 3f2a9c: run has no `mlflow.source.git.commit` tag"


def test_github_empty_report_prints_nothing(tmp_path: Path) -> None:
    assert render("github", Report(findings=[], root=tmp_path)) == ""


# --- junit --------------------------------------------------------------------------------------


def test_junit_counts_and_cases(tmp_path: Path) -> None:
    out = render("junit", full_report(tmp_path))
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="mlrepro">')
    root = ET.fromstring(out)
    (suite,) = root.findall("testsuite")
    assert suite.attrib == {"name": "mlrepro lint", "tests": "5", "failures": "4", "errors": "0", "skipped": "0"}
    cases = [(c.get("classname"), c.get("name"), c.find("failure") is not None) for c in suite.findall("testcase")]
    assert cases == [
        ("notebooks/explore.ipynb", "MLR101 unseeded-python-random", True),
        ("run 3f2a9c", "MLR999 run-without-git-commit", True),
        ("src/broken.py", "MLR001 syntax-error", True),
        ("src/clean.py", "mlrepro", False),
        ("src/train.py", "MLR101 unseeded-python-random", True),
    ]
    failure = suite.findall("testcase")[4].find("failure")
    assert failure is not None
    assert failure.attrib == {"message": code_finding().message, "type": "MLR101"}
    assert failure.text == f"src/train.py:12:5: {code_finding().message}"
    notebook_failure = suite.findall("testcase")[0].find("failure")
    assert notebook_failure is not None and notebook_failure.text is not None
    assert notebook_failure.text.startswith("notebooks/explore.ipynb:cell 4:3:1: ")


def test_junit_clean_run_lists_every_checked_entry(tmp_path: Path) -> None:
    report = Report(findings=[], checked=("b.py", "a.py", "b.py"), command="audit", root=tmp_path)
    suite = ET.fromstring(render("junit", report)).find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("mlrepro audit", "2", "0")
    assert [c.get("classname") for c in suite.findall("testcase")] == ["a.py", "b.py"]
    assert all(len(c) == 0 for c in suite.findall("testcase"))


def test_junit_escapes_markup_and_strips_control_characters(tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script> & \x1b[31mred\x00 \"q\""
    out = render("junit", Report(findings=[code_finding(filename="src/<script>.py", message=hostile)], root=tmp_path))
    assert "<script>" not in out and "\x1b" not in out and "\x00" not in out
    case = ET.fromstring(out).find("testsuite/testcase")
    assert case is not None and case.get("classname") == "src/<script>.py"
    failure = case.find("failure")
    assert failure is not None
    expected = "<script>alert('x')</script> & [31mred \"q\""
    assert failure.get("message") == expected
    assert failure.text == f"src/<script>.py:12:5: {expected}"


def test_junit_is_deterministic(tmp_path: Path) -> None:
    report = full_report(tmp_path)
    shuffled = Report(findings=list(reversed(report.findings)), checked=tuple(reversed(report.checked)), root=tmp_path)
    assert render("junit", report) == render("junit", shuffled)


# --- notes: what an audit did not check (runs of another repository) --------------------------------

NOTE = "2 runs of https://example.com/a<b>/repo.git not checked against this repository (/srv/x): 100% theirs"


def noted_report(tmp_path: Path) -> Report:
    return Report(findings=[run_finding()], command="audit", checked=("run 3f2a9c",), root=tmp_path, notes=(NOTE,))


def test_sarif_notes_are_tool_execution_notifications(sarif_validator: jsonschema.Draft4Validator, tmp_path: Path) -> None:
    log = sarif(noted_report(tmp_path), sarif_validator)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation == {"executionSuccessful": True, "toolExecutionNotifications": [{"level": "note", "message": {"text": NOTE}}]}
    assert len(log["runs"][0]["results"]) == 1  # a note is no result
    invocation["toolExecutionNotifications"][0]["level"] = "info"  # the guard: SARIF has no such level
    assert len(list(sarif_validator.iter_errors(log))) == 1
    assert "toolExecutionNotifications" not in sarif(Report(findings=[], root=tmp_path), sarif_validator)["runs"][0]["invocations"][0]


def test_github_notes_are_notices_without_a_file(tmp_path: Path) -> None:
    *_, notice = render("github", noted_report(tmp_path)).splitlines()
    assert notice == "::notice ::" + NOTE.replace("%", "%25")


def test_junit_notes_are_the_suites_system_out(tmp_path: Path) -> None:
    suite = ET.fromstring(render("junit", noted_report(tmp_path))).find("testsuite")
    assert suite is not None and suite.get("tests") == "1"
    system_out = suite.find("system-out")
    assert system_out is not None and system_out.text == f"info: {NOTE}\n"
    assert ET.fromstring(render("junit", full_report(tmp_path))).find("testsuite/system-out") is None

