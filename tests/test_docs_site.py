"""The documentation site builds strictly and offline, documents everything the code has, and
the README stays a front page.

The site is built once with ``mkdocs build --strict`` (a broken link or anchor fails it); what
must be on it is collected here from the code, independently of ``docs/hooks.py`` that writes
the generated pages: every rule of the catalogue, every command and option of the click tree,
every key of ``[tool.mlrepro]``.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mlrepro import config
from mlrepro.audit.policy import AUDIT_KEYS
from mlrepro.cli import cli
from mlrepro.config_schema import SCHEMA
from mlrepro.promote.settings import PROMOTE_KEYS
from mlrepro.registry import DOCS_URL, load_catalogue

ROOT = Path(__file__).resolve().parents[1]
README_TOP = (
    "# mlrepro\n\n"
    "```\npip install '.[demo]' && mlrepro demo\n```\n"
    "```\npip install -e '.[test]' && python -m pytest -q\n```\n"
)
TEST_COMMAND = "pip install -e '.[test]' && python -m pytest -q"
BUILD_COMMAND = "pip install -e '.[test]' && mkdocs build --strict"


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` in a fresh process, offline: any download would go to a proxy
    that does not exist and fail."""
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead, "NO_PROXY": "", "no_proxy": ""}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(project / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=project, capture_output=True, text=True, timeout=600, env=env,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    result = build(ROOT, out)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def page_text(path: Path) -> str:
    """The page's article as plain text (tags dropped, entities decoded)."""
    document = path.read_text(encoding="utf-8")
    start, end = document.find("<article"), document.find("</article>")
    assert start >= 0 and end > start, f"{path}: no article"
    return html.unescape(re.sub(r"<[^>]+>", "", document[start:end]))


def sections(path: Path) -> dict[str, str]:
    """h2 id -> the HTML up to the next h2."""
    document = path.read_text(encoding="utf-8")
    parts = re.split(r'<h2 id="([^"]+)"', document)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def plain(markdown: str) -> str:
    return " ".join(markdown.replace("`", "").split())


def squash(text: str) -> str:
    return " ".join(text.split())


# --- rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", load_catalogue(), ids=lambda r: r.code)
def test_every_rule_has_its_generated_page(site: Path, rule) -> None:
    page = site / "rules" / rule.code / "index.html"
    assert page.is_file(), f"no page for {rule.code}"
    text = squash(page_text(page))
    assert f"{rule.name} ({rule.code})" in text
    assert f"Severity: {rule.severity.value}" in text
    for section in (rule.summary, rule.why, rule.fix):
        assert plain(section) in text, f"{rule.code}: the page lacks {section[:60]!r}"
    for line in rule.example.splitlines():
        assert squash(line) in text, f"{rule.code}: the page lacks the example line {line!r}"


def test_the_rule_index_lists_every_rule_by_family_with_its_severity_and_fix(site: Path) -> None:
    document = (site / "rules" / "index.html").read_text(encoding="utf-8")
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", document, re.DOTALL):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.DOTALL)]
        if cells:
            rows[cells[0]] = cells
            assert f'href="{cells[0]}/"' in row, f"{cells[0]}: no link to its page"
    for rule in load_catalogue():
        fix = [rule.fix_applicability or "-"] if rule.target == "code" else []
        assert rows.get(rule.code) == [rule.code, rule.name, rule.severity.value, *fix, plain(rule.summary)], rule.code
    families = {f"{r.target}-{r.family}" for r in load_catalogue()}
    for family in families:
        assert f'id="{family}"' in document, f"no section for the family {family}"


def test_rule_urls_are_the_pages_of_the_site(site: Path) -> None:
    """Findings, SARIF and `mlrepro rules CODE` link to the page the site builds for the rule."""
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    for rule in load_catalogue():
        assert rule.url.startswith(DOCS_URL)
        assert (site / rule.url[len(DOCS_URL):] / "index.html").is_file(), rule.url
        assert f"<loc>{rule.url}</loc>" in sitemap, f"the site is not built for {DOCS_URL}"
    shown = subprocess.run([sys.executable, "-m", "mlrepro", "rules", "MLR101", "--isolated"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f"Docs: {DOCS_URL}rules/MLR101/" in shown.stdout


# --- command line -------------------------------------------------------------------------


def metavar(param: click.Parameter, ctx: click.Context) -> str:
    try:
        return param.make_metavar(ctx)  # click >= 8.2
    except TypeError:
        return param.make_metavar()  # type: ignore[call-arg]


def _commands() -> list[tuple[str, click.Command, click.Context]]:
    root = click.Context(cli, info_name="mlrepro", **cli.context_settings)
    found: list[tuple[str, click.Command, click.Context]] = [("mlrepro", cli, root)]
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        assert command is not None
        found.append((name, command, click.Context(command, info_name=name, parent=root)))
    return found


def test_every_command_and_option_is_in_the_cli_reference(site: Path) -> None:
    by_id = sections(site / "reference" / "cli" / "index.html")
    for anchor, command, ctx in _commands():
        assert anchor in by_id, f"no section for `{ctx.command_path}`"
        text = html.unescape(re.sub(r"<[^>]+>", "", by_id[anchor]))
        for param in command.get_params(ctx):
            names = param.opts + param.secondary_opts if isinstance(param, click.Option) else [metavar(param, ctx)]
            for name in names:
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"`{ctx.command_path}`: {name} is not documented"
        if command.help:
            first = command.help.split("\n\n")[0]
            assert plain(first) in squash(text), f"`{ctx.command_path}`: its help text is missing"


# --- configuration --------------------------------------------------------------------------


def _config_keys() -> dict[str, set[str]]:
    keys = {section: set(checks) for section, checks in SCHEMA.items()}
    keys[""] |= config.LINT_KEYS | config.OTHER_KEYS
    keys["audit"] |= AUDIT_KEYS
    keys["promote"] |= PROMOTE_KEYS
    for section in config.SECTIONS:
        keys.setdefault(section, set())
    return keys


def test_every_configuration_key_is_in_the_reference_with_its_type(site: Path) -> None:
    by_id = sections(site / "reference" / "configuration" / "index.html")
    for section, keys in _config_keys().items():
        anchor = section or "tool-mlrepro"
        assert anchor in by_id, f"no section for [tool.mlrepro{'.' + section if section else ''}]"
        rows = {}
        for row in re.findall(r"<tr>(.*?)</tr>", by_id[anchor], re.DOTALL):
            cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.DOTALL)]
            if cells:
                rows[cells[0]] = cells
        assert set(rows) == keys, f"[tool.mlrepro.{section}]: documented {sorted(rows)}, read {sorted(keys)}"
        for key in keys:
            check = SCHEMA.get(section, {}).get(key)
            if check is not None:
                assert rows[key][1] == check(object()), f"{key}: the type is not the one its check demands"
            assert all(rows[key][1:]), f"{key}: a column is empty"


def test_configuration_defaults_come_from_the_code(site: Path) -> None:
    from mlrepro.audit.policy import DEFAULT_REQUIRED_TAGS

    by_id = sections(site / "reference" / "configuration" / "index.html")
    audit = html.unescape(re.sub(r"<[^>]+>", "", by_id["audit"]))
    assert "[" + ", ".join(f'"{tag}"' for tag in DEFAULT_REQUIRED_TAGS) + "]" in audit
    top = html.unescape(re.sub(r"<[^>]+>", "", by_id["tool-mlrepro"]))
    assert str(config.DEFAULT_MAX_FILE_SIZE_KB) in top and '"mlruns"' in top


def test_a_key_without_a_description_fails_the_build(tmp_path: Path) -> None:
    """The reference cannot silently fall out of step: a key the code reads but the hook does
    not describe stops the build, naming the key."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "src").symlink_to(ROOT / "src")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", project / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    hooks = project / "docs" / "hooks.py"
    text = hooks.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.strip().startswith('"max-diff-tags":'))
    hooks.write_text(text.replace(line + "\n", ""), encoding="utf-8")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "undocumented: [tool.mlrepro.capture] max-diff-tags" in result.stdout + result.stderr


# --- README ---------------------------------------------------------------------------------


def test_readme_is_a_front_page_that_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) <= 8 * 1024, f"README.md is {len(readme)} bytes: move the details into docs/"
    text = readme.decode("utf-8")
    assert text.startswith(README_TOP)
    assert BUILD_COMMAND in text, "the README says how to build the site"
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()[-1], "CI runs the README's test command"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
