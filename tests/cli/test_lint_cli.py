"""`mlrepro lint` as users run it: exit codes, formats, bad input, start-up cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mlrepro.cli import main

UNSEEDED = "import random\n\nrandom.shuffle([1, 2, 3])\n"
SEEDED = "import random\n\nrandom.seed(7)\nrandom.shuffle([1, 2, 3])\n"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a fresh process, as pre-commit and CI call it."""
    return subprocess.run(
        [sys.executable, "-m", "mlrepro", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\n")
    return tmp_path


def test_exit_codes_clean_findings_and_usage(project: Path) -> None:
    (project / "clean.py").write_text(SEEDED)
    (project / "dirty.py").write_text(UNSEEDED)
    clean = run_cli("lint", "clean.py", cwd=project)
    assert (clean.returncode, clean.stdout) == (0, "All checks passed!\n")
    dirty = run_cli("lint", "dirty.py", cwd=project)
    assert dirty.returncode == 1
    assert dirty.stdout.splitlines() == [
        "dirty.py:3:1: MLR101 `random.shuffle()` uses Python's global generator, which this file never seeds (`random.seed(...)`)",
        "Found 1 finding.",
    ]
    assert run_cli("lint", "dirty.py", "--exit-zero", cwd=project).returncode == 0
    usage = run_cli("lint", "--no-such-option", cwd=project)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lint", "missing.py"], "missing.py: no such file or directory"),
        (["lint", "--select", "MLR19", "."], "'MLR19' matches no rule code"),
        (["lint", "--config", "nowhere.toml", "."], "configuration file not found"),
        (["rules", "MLR999"], "unknown rule 'MLR999'"),
    ],
)
def test_errors_are_one_line_and_exit_2(project: Path, args: list[str], message: str) -> None:
    result = run_cli(*args, cwd=project)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_broken_config_is_a_clear_error(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.mlrepro]\nselect = 'MLR1'\n")
    (project / "a.py").write_text(SEEDED)
    result = run_cli("lint", "a.py", cwd=project)
    assert result.returncode == 2
    assert "select must be a list of strings" in result.stderr
    (project / "pyproject.toml").write_text("[tool.mlrepro\n")
    result = run_cli("lint", "a.py", cwd=project)
    # Not the default policy in silence (ruff fails the same way): the team's policy is unreadable.
    assert result.returncode == 2 and "pyproject.toml: invalid TOML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (project / "pyproject.toml").write_text("[tool.mlrepro]\nunknown-key = 1\n")
    result = run_cli("lint", "a.py", cwd=project)
    assert result.returncode == 2 and "unknown key(s) in [tool.mlrepro]: unknown-key" in result.stderr


def test_every_output_format(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "dirty.py").write_text(UNSEEDED)
    os.chdir(project)
    assert main(["lint", "dirty.py", "--output-format", "json"]) == 1
    [item] = json.loads(capsys.readouterr().out)
    assert (item["code"], item["filename"], item["location"]) == ("MLR101", "dirty.py", {"row": 3, "column": 1})
    assert main(["lint", "dirty.py", "--output-format", "sarif", "-o", "out/report.sarif"]) == 1
    sarif = json.loads((project / "out" / "report.sarif").read_text())
    assert sarif["runs"][0]["results"][0]["ruleId"] == "MLR101"
    assert capsys.readouterr().out == ""
    assert main(["lint", "dirty.py", "--output-format", "github"]) == 1
    assert capsys.readouterr().out.startswith("::error ")
    assert main(["lint", "dirty.py", "--output-format", "junit"]) == 1
    suite = ET.fromstring(capsys.readouterr().out.split("?>", 1)[-1]).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_bad_input_never_stops_the_other_files(project: Path) -> None:
    (project / "syntax.py").write_text("def broken(:\n    pass\n")
    (project / "latin1.py").write_bytes(b'LABEL = "caf\xe9"\n')
    (project / "binary.py").write_bytes(b"\x7fELF\x00\x01\x02")
    (project / "empty.py").write_text("")
    (project / "broken.ipynb").write_text('{"cells": [')
    (project / "dirty.py").write_text(UNSEEDED)
    result = run_cli("lint", ".", "--output-format", "json", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    found = {(item["filename"], item["code"]) for item in json.loads(result.stdout)}
    assert found == {
        ("binary.py", "MLR002"),
        ("broken.ipynb", "MLR003"),
        ("dirty.py", "MLR101"),
        ("latin1.py", "MLR002"),
        ("syntax.py", "MLR001"),
    }


def test_five_megabyte_file(project: Path) -> None:
    body = "".join(f"value_{i} = {i} * 2  # padding to make a large generated module\n" for i in range(80_000))
    (project / "big.py").write_text("import random\n" + body + "x = random.random()\n")
    assert (project / "big.py").stat().st_size > 5_000_000
    result = run_cli("lint", "big.py", cwd=project)
    assert result.returncode == 1
    assert result.stdout.startswith("big.py:80002:5: MLR101 ")


def test_notebook_findings_are_located_by_cell(project: Path) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Training\n"]},
            {"cell_type": "code", "metadata": {}, "source": ["import random\n"], "outputs": [], "execution_count": 1},
            {"cell_type": "code", "metadata": {}, "source": ["%time\n", "!pip list\n", "    random.shuffle(x := [1, 2])\n".lstrip()], "outputs": [], "execution_count": 2},
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (project / "train.ipynb").write_text(json.dumps(notebook))
    result = run_cli("lint", "train.ipynb", cwd=project)
    assert result.stdout.splitlines()[0].startswith("train.ipynb:cell 3:3:1: MLR101 ")
    as_json = json.loads(run_cli("lint", "train.ipynb", "--output-format", "json", cwd=project).stdout)
    assert (as_json[0]["cell"], as_json[0]["location"]) == (3, {"row": 3, "column": 1})


def test_output_order_is_deterministic_across_processes(project: Path) -> None:
    for i in range(60):
        (project / f"m{i:02d}.py").write_text(UNSEEDED * (1 + i % 3))
    serial = run_cli("lint", ".", "--jobs", "1", "--output-format", "json", cwd=project).stdout
    parallel = run_cli("lint", ".", "--jobs", "2", "--output-format", "json", cwd=project).stdout
    assert serial == parallel
    assert len(json.loads(serial)) == 20 * 1 + 20 * 2 + 20 * 3


def test_lint_start_up_imports_no_heavy_package(project: Path) -> None:
    (project / "train.py").write_text(UNSEEDED)
    probe = textwrap.dedent(
        """
        import sys
        from mlrepro.cli import main
        code = main(["lint", "train.py"])
        heavy = sorted(m for m in ("mlflow", "dvc", "git", "wandb", "numpy", "deepdiff", "jinja2", "yaml") if m in sys.modules)
        print("HEAVY", heavy, code)
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "HEAVY [] 1", result.stdout + result.stderr


def test_rules_command_formats(project: Path) -> None:
    listing = run_cli("rules", cwd=project)
    assert listing.returncode == 0 and "MLR101  unseeded-python-random" in listing.stdout
    one = run_cli("rules", "MLR101", "--output-format", "json", cwd=project)
    assert json.loads(one.stdout)["name"] == "unseeded-python-random"
    by_name = run_cli("rules", "unseeded-python-random", "--output-format", "markdown", cwd=project)
    assert by_name.stdout.startswith("# unseeded-python-random (MLR101)")
    assert "## Why is this bad?" in by_name.stdout
    catalogue = json.loads(run_cli("rules", "--output-format", "json", cwd=project).stdout)
    assert [r["code"] for r in catalogue] == sorted(r["code"] for r in catalogue)


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        ("", ["--select", "NOPE"], "--select: 'NOPE' matches no rule code"),
        ("", ["--ignore", "MLR1,E501"], "--ignore: 'E501' matches no rule code"),
        ("", ["--extend-select", "F"], "--extend-select: 'F' matches no rule code"),
        ('select = ["E501"]', [], "pyproject.toml: [tool.mlrepro] select: 'E501' matches no rule code"),
        ('ignore = ["NOPE"]', [], "pyproject.toml: [tool.mlrepro] ignore: 'NOPE' matches no rule code"),
        ('[tool.mlrepro.per-file-ignores]\n"a.py" = ["X1"]', [], "pyproject.toml: [tool.mlrepro] per-file-ignores.'a.py': 'X1' matches no rule code"),
    ],
)
def test_unknown_selectors_are_an_error_not_all_checks_passed(project: Path, config: str, args: list[str], message: str) -> None:
    (project / "pyproject.toml").write_text(f"[tool.mlrepro]\n{config}\n")
    (project / "dirty.py").write_text(UNSEEDED)
    result = run_cli("lint", "dirty.py", *args, cwd=project)
    assert (result.returncode, result.stdout) == (2, ""), result.stdout
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_team_rule_codes_and_all_are_valid_selectors_for_lint(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.mlrepro]\nignore = ["ACME001"]\n[tool.mlrepro.audit]\nrules-dir = "team-rules"\n')
    (project / "team-rules").mkdir()
    (project / "team-rules" / "jira.yaml").write_text("code: ACME001\nrequire:\n  tag: jira\n")
    (project / "dirty.py").write_text(UNSEEDED)
    assert run_cli("lint", "dirty.py", cwd=project).returncode == 1
    assert run_cli("lint", "dirty.py", "--select", "ALL", "--ignore", "ACME", cwd=project).returncode == 1
    (project / "team-rules" / "jira.yaml").unlink()
    gone = run_cli("lint", "dirty.py", cwd=project)
    assert gone.returncode == 2 and "'ACME001' matches no rule code" in gone.stderr
