"""Team rules from `rules-dir`: loaded from YAML, run like built-in rules, selectable by code."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_helpers import Repo, Store, audit_json, codes_by_run

from mlrepro.audit.team_rules import TeamRuleError, load_team_rules

JIRA = """\
code: ACME001
name: missing-jira-ticket
severity: warning
summary: Every run links its Jira ticket.
require:
  tag: jira
  pattern: "ML-[0-9]+"
"""
AUC = """\
code: ACME002
severity: error
require:
  metric: val_auc
"""
STAGE = """\
code: ACME003
name: unknown-stage
require:
  param: stage
  one-of: [dev, prod]
"""


def _configure(repo: Repo, **files: str) -> Path:
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\nrules-dir = "team-rules"\n')
    folder = repo.path / "team-rules"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_team_rules_report_with_their_codes(store: Store, repo: Repo) -> None:
    _configure(repo, **{"jira.yaml": JIRA, "auc.yaml": AUC})
    good = store.good_run(repo, tags={"jira": "ML-12"}, metrics={"accuracy": 0.9, "val_auc": 0.8})
    unlinked = store.good_run(repo, metrics={"accuracy": 0.9, "val_auc": 0.8})
    mistyped = store.good_run(repo, tags={"jira": "JIRA-7"})
    code, findings = audit_json(store, repo.path, "--select", "ACME")
    assert code == 1
    assert codes_by_run(findings) == {unlinked: {"ACME001"}, mistyped: {"ACME001", "ACME002"}}
    by_key = {(f["run_id"], f["code"]): f for f in findings}
    assert by_key[unlinked, "ACME001"]["message"] == "tag 'jira' missing or empty"
    assert by_key[mistyped, "ACME001"]["message"] == "tag 'jira' = 'JIRA-7' does not match 'ML-[0-9]+'"
    assert by_key[mistyped, "ACME002"]["message"] == "metric 'val_auc' missing"
    assert by_key[mistyped, "ACME002"]["severity"] == "error"
    assert by_key[mistyped, "ACME002"]["name"] == "acme002"  # default name: the code
    assert by_key[mistyped, "ACME001"]["name"] == "missing-jira-ticket"
    assert good not in codes_by_run(findings)


def test_ignore_a_team_rule_by_code(store: Store, repo: Repo) -> None:
    _configure(repo, **{"jira.yaml": JIRA, "auc.yaml": AUC})
    run = store.good_run(repo)
    code, findings = audit_json(store, repo.path, "--select", "ACME", "--ignore", "ACME001")
    assert (code, codes_by_run(findings)) == (1, {run: {"ACME002"}})


def test_team_rules_run_next_to_the_catalogue(store: Store, repo: Repo) -> None:
    _configure(repo, **{"stage.yaml": STAGE})
    good = store.good_run(repo, params={"seed": "1", "stage": "prod"})
    odd = store.good_run(repo, params={"seed": "1", "stage": "staging"}, tags={"team": ""})
    code, findings = audit_json(store, repo.path, "--select", "ACME003,MLR701")
    assert codes_by_run(findings) == {odd: {"ACME003", "MLR701"}}
    assert next(f for f in findings if f["code"] == "ACME003")["message"] == "param 'stage' = 'staging' is not one of: dev, prod"
    assert good not in codes_by_run(findings)


def test_malformed_rule_file_exits_2_with_one_line(store: Store, repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    _configure(repo, **{"jira.yaml": JIRA, "broken.yaml": "code: ACME009\nrequire:\n  tag: jira\n  pattern: '(unclosed'\n"})
    store.good_run(repo)
    code, findings = audit_json(store, repo.path)
    assert (code, findings) == (2, [])
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("mlrepro: error: broken.yaml: invalid regular expression '(unclosed'")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code: ACME009\nrequire: [tag\n", "invalid YAML"),
        ("code: ACME009\nseverity: warning\nowner: me\nrequire:\n  tag: jira\n", "unknown key(s): owner"),
        ("code: ACME009\nrequire:\n  tag: jira\n  regex: x\n", "unknown key(s) in require: regex"),
        ("code: MLR999\nrequire:\n  tag: jira\n", "MLR prefix"),
        ("code: acme9\nrequire:\n  tag: jira\n", "upper-case letters followed by digits"),
        ("code: ACME001\nrequire:\n  tag: jira\n", "ACME001 is already used by a.yaml"),
        ("code: ACME009\nrequire:\n  tag: jira\n  param: x\n", "exactly one of tag, param or metric"),
        ("code: ACME009\nrequire:\n  metric: auc\n  pattern: x\n", "for a tag or param"),
        ("code: ACME009\nseverity: fatal\nrequire:\n  tag: jira\n", "unknown severity"),
        ("code: ACME009\n", "missing require"),
        ("- code: ACME009\n", "expected a mapping"),
    ],
)
def test_malformed_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "a.yaml").write_text(JIRA)
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(TeamRuleError, match=r"^b\.yaml: ") as raised:
        load_team_rules(tmp_path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_no_rules_dir_means_no_team_rules(tmp_path: Path) -> None:
    assert load_team_rules(None) == []
    assert load_team_rules(tmp_path) == []
    with pytest.raises(TeamRuleError, match="not a directory"):
        load_team_rules(tmp_path / "missing")


def test_rules_are_documented_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "stage.yaml").write_text(STAGE)
    [(rule, check)] = load_team_rules(tmp_path)
    assert (rule.code, rule.family, rule.target, rule.check, rule.severity.value) == ("ACME003", "team", "run", "team:ACME003", "warning")
    assert rule.summary == "Runs have the param stage set to one of dev, prod."
    assert rule.url == (tmp_path / "stage.yaml").resolve().as_uri()
    assert getattr(check, "scope") == "run"


def test_mlrepro_rules_lists_and_explains_the_team_rules(repo: Repo) -> None:
    import json
    import subprocess
    import sys

    folder = _configure(repo, **{"jira.yaml": JIRA})

    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlrepro", "rules", *args], cwd=repo.path, capture_output=True, text=True, check=False)

    listed = rules("--output-format", "json")
    assert listed.returncode == 0, listed.stderr
    by_code = {rule["code"]: rule for rule in json.loads(listed.stdout)}
    assert "MLR101" in by_code and by_code["ACME001"]["name"] == "missing-jira-ticket"
    assert by_code["ACME001"]["url"] == (folder / "jira.yaml").resolve().as_uri()
    explained = rules("ACME001")
    assert explained.returncode == 0 and "Every run links its Jira ticket." in explained.stdout
    assert "ACME001" not in rules("--isolated").stdout
    (folder / "jira.yaml").write_text("code: [not, a, code\n")
    broken = rules()
    assert broken.returncode == 2 and broken.stderr.startswith("mlrepro: error: jira.yaml: invalid YAML") and "Traceback" not in broken.stderr
