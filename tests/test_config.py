from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrepro.cli import main
from mlrepro.config import DEFAULT_EXCLUDE, CliOverrides, ConfigError, find_config, resolve_settings

UNSEEDED = "import random\nrandom.shuffle([1])\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nearest_pyproject_with_our_table_wins(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.mlrepro]\nignore = ['MLR1']\n")
    write(tmp_path / "pkg" / "pyproject.toml", "[project]\nname = 'x'\n")  # not ours: skipped
    assert find_config(tmp_path / "pkg") == tmp_path / "pyproject.toml"
    settings = resolve_settings(tmp_path / "pkg")
    assert settings.root == tmp_path.resolve()
    assert settings.file_layer.ignore == ("MLR1",)
    assert settings.exclude == DEFAULT_EXCLUDE


def test_cli_overrides_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.mlrepro]\nselect = ['MLR2']\nseed-functions = ['a.b.seed_all']\n")
    settings = resolve_settings(tmp_path, overrides=CliOverrides(select=("MLR1",), seed_functions=("c.d",)))
    assert settings.file_layer.select == ("MLR2",)
    assert settings.cli_layer.select == ("MLR1",)
    assert settings.seed_functions == ("a.b.seed_all", "c.d")
    assert resolve_settings(tmp_path, isolated=True).config_path is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("select = 'MLR1'", "select must be a list of strings"),
        ("per-file-ignores = ['x']", "per-file-ignores must be a table"),
        ("per-file-ignores = { 'a.py' = 'MLR1' }", "per-file-ignores must be a table of glob"),
        ("nonsense = true", "unknown key(s)"),
    ],
)
def test_invalid_values(tmp_path: Path, body: str, message: str) -> None:
    write(tmp_path / "pyproject.toml", f"[tool.mlrepro]\n{body}\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_settings(tmp_path)


def lint_json(cwd: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    import os

    os.chdir(cwd)
    main(["lint", *args, "--output-format", "json"])
    return json.loads(capsys.readouterr().out)


def test_config_drives_the_linter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "pyproject.toml", """
[tool.mlrepro]
extend-exclude = ["generated"]
seed-functions = ["myproj.utils.prepare"]

[tool.mlrepro.per-file-ignores]
"scripts/*.py" = ["MLR101"]
""")
    write(tmp_path / "train.py", UNSEEDED)
    write(tmp_path / "scripts" / "explore.py", UNSEEDED)
    write(tmp_path / "generated" / "gen.py", UNSEEDED)
    write(tmp_path / "seeded.py", "import random\nfrom myproj.utils import prepare\nprepare(1)\nrandom.shuffle([1])\n")
    files = {f["filename"] for f in lint_json(tmp_path, capsys, ".")}
    assert files == {"train.py"}
    # Named explicitly, an excluded file is still linted, unless --force-exclude (pre-commit).
    assert {f["filename"] for f in lint_json(tmp_path, capsys, "generated/gen.py")} == {"generated/gen.py"}
    assert lint_json(tmp_path, capsys, "generated/gen.py", "--force-exclude") == []
    # The command line wins over the file.
    assert lint_json(tmp_path, capsys, ".", "--ignore", "MLR101") == []
    assert {f["filename"] for f in lint_json(tmp_path, capsys, "--isolated", ".")} >= {"train.py", "scripts/explore.py", "seeded.py"}


def test_gitignored_and_virtualenv_files_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path / ".gitignore", "outputs/\n")
    write(tmp_path / "train.py", UNSEEDED)
    write(tmp_path / "outputs" / "copy.py", UNSEEDED)
    write(tmp_path / ".venv" / "lib" / "site-packages" / "lib.py", UNSEEDED)
    write(tmp_path / "env" / "lib" / "python3.11" / "site-packages" / "x.py", UNSEEDED)
    assert {f["filename"] for f in lint_json(tmp_path, capsys, ".")} == {"train.py"}


# --- #17.4: no silent misconfiguration ------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("tracking-uri = 5", "[tool.mlrepro] tracking-uri"),
        ("tracking-uri = ''", "[tool.mlrepro] tracking-uri"),
        ("[tool.mlrepro.audit]\nmax-artifact-mb = nan", "[tool.mlrepro.audit] max-artifact-mb"),
        ("[tool.mlrepro.audit]\nmax-run-artifacts-mb = -1", "[tool.mlrepro.audit] max-run-artifacts-mb"),
        ("[tool.mlrepro.audit]\nstale-running-hours = inf", "[tool.mlrepro.audit] stale-running-hours"),
        ("[tool.mlrepro.audit]\nstale-running-hours = '24'", "[tool.mlrepro.audit] stale-running-hours"),
        ("[tool.mlrepro.audit]\nrequired-tags = 'team'", "[tool.mlrepro.audit] required-tags"),
        ("[tool.mlrepro.audit]\nrules-dir = 3", "[tool.mlrepro.audit] rules-dir"),
        ("[tool.mlrepro.audit]\nfail-on = 'fatal'", "[tool.mlrepro.audit] fail-on"),
        ("[tool.mlrepro.promote]\nmust-beat = 'auc'", "[tool.mlrepro.promote] must-beat"),
        ("[tool.mlrepro.capture]\nmax-diff-tags = -2", "[tool.mlrepro.capture] max-diff-tags"),
        ("[tool.mlrepro.capture]\nmax-diff-tags = 1.5", "[tool.mlrepro.capture] max-diff-tags"),
        ("[tool.mlrepro.reproduce]\ncommand = 7", "[tool.mlrepro.reproduce] command"),
        ("[tool.mlrepro.reproduce.tolerances]\nloss = 'nan'", "[tool.mlrepro.reproduce] tolerances"),
        ("[tool.mlrepro.reproduce.tolerances]\nloss = '1e-3:inf'", "[tool.mlrepro.reproduce] tolerances"),
        ("[tool.mlrepro.reproduce.tolerances]\nloss = 0.1", "[tool.mlrepro.reproduce] tolerances"),
        ("max-file-size-kb = 0", "[tool.mlrepro] max-file-size-kb"),
        ("max-file-size-kb = nan", "[tool.mlrepro] max-file-size-kb"),
        ("max-file-size-kb = true", "[tool.mlrepro] max-file-size-kb"),
        ("audit = 3", "[tool.mlrepro.audit]"),
    ],
)
def test_every_unusable_value_names_the_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    config = write(tmp_path / "pyproject.toml", f"[tool.mlrepro]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        resolve_settings(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{config}: "), message
    assert key in message and "\n" not in message


def test_valid_values_of_every_section_are_accepted(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", """
[tool.mlrepro]
tracking-uri = "sqlite:///mlflow.db"
max-file-size-kb = 2048
[tool.mlrepro.audit]
max-artifact-mb = 0
stale-running-hours = 1.5
required-tags = ["team"]
fail-on = "error"
[tool.mlrepro.capture]
max-diff-tags = 0
[tool.mlrepro.reproduce]
command = ["python", "train.py"]
[tool.mlrepro.reproduce.tolerances]
loss = "1e-3:1e-6"
"val_*" = "0"
""")
    assert resolve_settings(tmp_path).max_file_bytes == 2048 * 1024


def test_a_pyproject_that_is_not_toml_is_an_error_not_the_default_policy(tmp_path: Path) -> None:
    config = write(tmp_path / "pyproject.toml", "[tool.mlrepro\nselect = ['MLR1']\n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        resolve_settings(tmp_path / "sub" if (tmp_path / "sub").mkdir() is None else tmp_path)
    assert str(info.value).startswith(f"{config}: ")
