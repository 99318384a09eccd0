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
        ("per-file-ignores = { 'a.py' = 'MLR1' }", "must be a list of rule codes"),
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
seed-functions = ["myproj.utils.set_seed"]

[tool.mlrepro.per-file-ignores]
"scripts/*.py" = ["MLR101"]
""")
    write(tmp_path / "train.py", UNSEEDED)
    write(tmp_path / "scripts" / "explore.py", UNSEEDED)
    write(tmp_path / "generated" / "gen.py", UNSEEDED)
    write(tmp_path / "seeded.py", "import random\nfrom myproj.utils import set_seed\nset_seed(1)\nrandom.shuffle([1])\n")
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
