"""MkDocs hook: the pages that are generated from the code when the site is built.

- one page per rule, ``rules/<CODE>.md``, from ``rules/*.yaml`` (the same text as
  ``mlrepro rules CODE --output-format markdown``), listed in the navigation by family;
- the rule index in ``rules/index.md``;
- the configuration reference in ``reference/configuration.md``, from the checks of
  ``mlrepro.config_schema`` and the defaults of the objects each section's reader builds;
- the CLI reference in ``reference/cli.md``, from the click commands.

No generated page is kept in the repository. Anything that cannot be documented (a key with no
description here, a key whose default is unknown) stops the build: a page out of step with the
code is worse than no page.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
# Document the checkout being built, not whatever mlrepro happens to be installed. MkDocs puts
# sys.path back after loading a hook, so the package is imported now, while src/ is first.
sys.path.insert(0, str(ROOT / "src"))
import mlrepro

if not Path(mlrepro.__file__).resolve().is_relative_to((ROOT / "src").resolve()):
    raise PluginError(f"docs/hooks.py documents {ROOT / 'src'}, but mlrepro was already imported from {mlrepro.__file__}")

RULE_INDEX = "<!-- mlrepro:rule-index -->"
CONFIG_REFERENCE = "<!-- mlrepro:config-reference -->"
CLI_REFERENCE = "<!-- mlrepro:cli-reference -->"
TARGETS = {"code": ("Code rules", "mlrepro lint", "../lint.md"), "run": ("Run rules", "mlrepro audit", "../audit.md")}

# One line per key of [tool.mlrepro]; its type and default come from the code. A key the code
# accepts without a line here, or a line for a key the code does not accept, stops the build.
KEY_HELP: dict[str, dict[str, str]] = {
    "": {
        "select": "The rules to enable, by code or prefix (`MLR1`, `MLR101`, `ALL`); replaces the default.",
        "ignore": "Rules to disable, by code or prefix; wins a tie with `select`.",
        "extend-select": "Rules to enable in addition to `select`.",
        "exclude": "Globs of paths never linted; replaces the defaults.",
        "extend-exclude": "Globs excluded in addition to `exclude`.",
        "seed-functions": "Qualified names of project helpers that seed every generator (`myproj.utils.set_seed`).",
        "per-file-ignores": "Glob to the codes ignored in matching files; replaces the defaults (`{}` turns them off).",
        "extend-per-file-ignores": "Glob to codes, added to `per-file-ignores`.",
        "tracking-uri": "The MLflow tracking store, below `--tracking-uri` and `$MLFLOW_TRACKING_URI`.",
        "max-file-size-kb": "Larger files are reported unread (MLR002).",
        "fixable": "Rules `--fix` may fix, by code or prefix; default: every fixable rule.",
        "unfixable": "Rules `--fix` never fixes, by code or prefix; wins a tie with `fixable`.",
        "backend-store-uri": "The tracking server's own database (`postgresql://...`, `sqlite:///...`), below `$MLREPRO_BACKEND_STORE_URI`: `audit` reads runs from it with read-only SQL instead of the server's REST API.",
        "repos": "Repository URL as runs record it (any spelling) to the path of its clone, relative to this file: `audit`, `report` and `reproduce` check and re-execute each run from it; `--repo` adds to and overrides it.",
    },
    "audit": {
        "required-tags": "Tags every run must have a value for (MLR701).",
        "required-params": "Params every run must log (MLR709).",
        "seed-params": "Params or tags that hold a run's seed (MLR506; also as the last part of `trainer.seed`).",
        "data-version-tags": "Tags that identify a run's training data (MLR601).",
        "experiments": "Audit only these experiments (name or id); empty: every active experiment.",
        "exclude-experiments": "Experiments never audited.",
        "generic-run-names": "Run names that name nothing (MLR702), compared case-insensitively.",
        "max-artifact-mb": "Size limit of one artifact or logged-model file, in MB (MLR704).",
        "max-run-artifacts-mb": "Size limit of all the artifacts of one run, in MB (MLR705).",
        "stale-running-hours": "A run RUNNING for longer has lost its process (MLR707).",
        "rules-dir": "The folder of the team's own rules, relative to the configuration file ([Team rules](../team.md#team-rules)).",
        "fail-on": "The lowest severity that makes `audit` and `report` exit 1 (`--fail-on` wins).",
    },
    "promote": {
        "guarded-aliases": "Aliases only `mlrepro promote` may set: a version holding one without the trail is MLR804.",
        "must-beat": "`METRIC[:MIN_ABS[:MIN_REL]][:higher|lower]` thresholds used when the command line gives no `--must-beat`.",
    },
    "capture": {
        "max-diff-tags": "Above this many 8,000-character tags, a dirty tree's diff is kept as a commit under `refs/mlrepro/` instead.",
    },
    "reproduce": {
        "command": "The entry point of runs that recorded none, at the run's commit: argv or a string, with `{params.NAME}` placeholders.",
        "tolerances": "Metric name or glob to `\"RTOL[:ATOL]\"`; `--tolerance` wins.",
        "executor": "Where reproductions run: `local` (processes on this machine) or `ray` (each a task on a Ray cluster); `--executor` wins.",
        "ray-address": "The Ray cluster `--executor ray` connects to; `--ray-address`, then `$RAY_ADDRESS`, win.",
        "num-cpus": "CPUs each reproduction reserves on the Ray cluster.",
        "num-gpus": "GPUs each reproduction reserves on the Ray cluster: GPU runs land on GPU nodes.",
        "memory": "Bytes of memory each reproduction reserves on the Ray cluster (scheduling, not a limit).",
    },
    "report": {},
}


# --- MkDocs events -------------------------------------------------------------------------


def on_config(config: Any) -> Any:
    from mlrepro.registry import DOCS_URL

    # Rule URLs in findings, SARIF and `mlrepro rules` point into this site: one base URL.
    if config.get("site_url") and config["site_url"].rstrip("/") != DOCS_URL.rstrip("/"):
        raise PluginError(f"mkdocs.yml site_url {config['site_url']} is not mlrepro.registry.DOCS_URL {DOCS_URL}: rule links would miss")
    config["site_url"] = DOCS_URL
    config["nav"] = _nav_with_rules(config.get("nav"))
    return config


def on_files(files: Files, config: Any) -> Files:
    for rule in _catalogue():
        files.append(File.generated(config, f"rules/{rule.code}.md", content=rule_page(rule)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    for marker, render in ((RULE_INDEX, rule_index), (CONFIG_REFERENCE, config_reference), (CLI_REFERENCE, cli_reference)):
        if marker in markdown:
            try:
                markdown = markdown.replace(marker, render())
            except PluginError:
                raise
            except Exception as exc:  # a build that documents half the code must not pass
                raise PluginError(f"{page.file.src_uri}: cannot generate {marker}: {exc!r}") from exc
    return markdown


# --- rules ----------------------------------------------------------------------------------


def _catalogue() -> tuple[Any, ...]:
    from mlrepro.registry import load_catalogue

    return load_catalogue()


def _nav_with_rules(nav: Any) -> Any:
    """``- Rules: rules/index.md`` in mkdocs.yml becomes the index and every rule by target."""
    if not isinstance(nav, list):
        return nav
    out = []
    for item in nav:
        if isinstance(item, dict) and item.get("Rules") == "rules/index.md":
            sections: list[Any] = ["rules/index.md"]
            for target, (title, _, _) in TARGETS.items():
                pages = [{f"{r.code} {r.name}": f"rules/{r.code}.md"} for r in _catalogue() if r.target == target]
                sections.append({title: pages})
            out.append({"Rules": sections})
        else:
            out.append(item)
    return out


def rule_page(rule: Any) -> str:
    from mlrepro.rule_docs import render_rule

    _, command, page = TARGETS[rule.target]
    text = render_rule(rule, "markdown")
    return text.replace(f"Applies to: {rule.target}\n", f"Applies to: {rule.target} ([{command}]({page}))\n", 1)


def rule_index() -> str:
    """Per target, per family (in code order), each rule with its severity (and, for code rules,
    whether `--fix` repairs it: safe or unsafe)."""
    rules = _catalogue()
    out: list[str] = []
    for target, (title, command, page) in TARGETS.items():
        out.append(f"## {title}\n\nFound by [`{command}`]({page}).\n")
        families: dict[str, list[Any]] = {}
        for rule in rules:
            if rule.target == target:
                families.setdefault(rule.family, []).append(rule)
        for family, members in families.items():
            out.append(f"### {family.capitalize()} {{ #{target}-{family} }}\n")
            fixes = target == "code"
            out.append("| Code | Name | Severity | " + ("Fix | " if fixes else "") + "What it finds |\n| --- | --- | --- | "
                       + ("--- | " if fixes else "") + "--- |")
            for rule in members:
                fix = f"{rule.fix_applicability or '-'} | " if fixes else ""
                out.append(f"| [{rule.code}]({rule.code}.md) | `{rule.name}` | {rule.severity.value} | {fix}{_cell(rule.summary)} |")
            out.append("")
    return "\n".join(out)


# --- configuration ----------------------------------------------------------------------------


def _section_title(section: str) -> str:
    return "[tool.mlrepro]" if not section else f"[tool.mlrepro.{section}]"


def accepted_keys() -> dict[str, set[str]]:
    """Section -> every key the code accepts: the schema's, and each reader's own list."""
    from mlrepro import config
    from mlrepro.audit.policy import AUDIT_KEYS
    from mlrepro.config_schema import SCHEMA
    from mlrepro.promote.settings import PROMOTE_KEYS

    keys = {section: set(checks) for section, checks in SCHEMA.items()}
    keys.setdefault("", set()).update(config.LINT_KEYS | config.OTHER_KEYS)
    keys.setdefault("audit", set()).update(AUDIT_KEYS)
    keys.setdefault("promote", set()).update(PROMOTE_KEYS)
    for section in config.SECTIONS:
        keys.setdefault(section, set())
    return keys


def _defaults() -> dict[str, Any]:
    """Section -> the object its reader builds from an empty table: a key's default is the
    attribute of the same name (``max-artifact-mb`` -> ``max_artifact_mb``)."""
    from mlrepro.audit.policy import AuditPolicy
    from mlrepro.capture.collect import CaptureSettings
    from mlrepro.config import resolve_settings
    from mlrepro.promote.settings import PromotePolicy

    with tempfile.TemporaryDirectory() as empty:
        settings = resolve_settings(Path(empty), isolated=True)
    return {"": settings, "audit": AuditPolicy(), "promote": PromotePolicy(), "capture": CaptureSettings()}


def _default(section: str, key: str, objects: Mapping[str, Any]) -> str:
    """The default of one key, in TOML, or a few words where there is no value."""
    from mlrepro.reproduce.compare import Tolerance
    from mlrepro.sources.mlflow_store import DEFAULT_TRACKING_URI

    settings = objects[""]
    special: dict[tuple[str, str], str] = {
        ("", "select"): "every rule" if settings.file_layer.select is None else _code(settings.file_layer.select),
        ("", "ignore"): _code(settings.file_layer.ignore),
        ("", "extend-select"): _code(settings.file_layer.extend_select),
        ("", "per-file-ignores"): _code(dict(settings.per_file_ignores)),
        ("", "extend-per-file-ignores"): _code({}),
        ("", "tracking-uri"): f"`$MLFLOW_TRACKING_URI`, else {_code(DEFAULT_TRACKING_URI)}",
        ("", "max-file-size-kb"): _code(settings.max_file_bytes // 1024),
        ("", "repos"): _code({}),
        ("", "fixable"): "every fixable rule",
        ("", "unfixable"): _code([]),
        ("", "backend-store-uri"): "none: runs are read from the tracking URI",
        ("reproduce", "command"): "none: the run's `MLproject` entry point or its recorded command",
        ("reproduce", "executor"): _code("local"),
        ("reproduce", "ray-address"): "`$RAY_ADDRESS`, else a cluster started on this machine",
        ("reproduce", "num-cpus"): _code(1),
        ("reproduce", "num-gpus"): _code(0),
        ("reproduce", "memory"): "none reserved",
        ("reproduce", "tolerances"): f"{_code({})}: every metric within rtol {Tolerance().rtol:g}, atol {Tolerance().atol:g}",
        ("promote", "must-beat"): _code([str(t) for t in objects["promote"].must_beat]),
        ("audit", "rules-dir"): "none" if objects["audit"].rules_dir is None else _code(str(objects["audit"].rules_dir)),
    }
    if (section, key) in special:
        return special[(section, key)]
    holder = objects.get(section)
    attribute = key.replace("-", "_")
    if holder is None or not hasattr(holder, attribute):
        raise PluginError(f"{_section_title(section)} {key}: no default known; teach docs/hooks.py where its reader keeps it")
    return _code(getattr(holder, attribute))


def _code(value: Any) -> str:
    return f"`{_toml(value)}`"


def config_reference() -> str:
    from mlrepro.config_schema import SCHEMA

    keys = accepted_keys()
    stale = [f"{_section_title(s)} {k}" for s, helps in KEY_HELP.items() for k in helps if k not in keys.get(s, set())]
    missing = [f"{_section_title(s)} {k}" for s, ks in keys.items() for k in sorted(ks) if k not in KEY_HELP.get(s, {})]
    if missing or stale:
        raise PluginError(
            "docs/hooks.py KEY_HELP is out of step with the code: "
            + "; ".join(filter(None, [missing and f"undocumented: {', '.join(missing)}", stale and f"no longer read: {', '.join(stale)}"]))
        )
    objects = _defaults()
    out: list[str] = []
    for section in sorted(keys, key=lambda s: (s != "", s)):
        anchor = "tool-mlrepro" if not section else section
        out.append(f"## `{_section_title(section)}` {{ #{anchor} }}\n")
        if not keys[section]:
            out.append("No keys yet.\n")
            continue
        out.append("| Key | Type | Default | Description |\n| --- | --- | --- | --- |")
        checks = SCHEMA.get(section, {})
        for key in sorted(keys[section]):
            kind = _kind(checks.get(key))
            out.append(f"| `{key}` | {_cell(kind)} | {_cell(_default(section, key, objects))} | {_cell(KEY_HELP[section][key])} |")
        out.append("")
    return "\n".join(out)


class _Unusable:
    """A value no check accepts: a check's refusal says what the key must be."""


def _kind(check: Any) -> str:
    if check is None:
        return "not checked"
    wanted = check(_Unusable())
    if not isinstance(wanted, str):
        raise PluginError(f"the check {check!r} accepts anything: it cannot say what its key must be")
    return wanted


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Iterable):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise PluginError(f"cannot show the default {value!r} in TOML")


# --- command line ---------------------------------------------------------------------------


def cli_reference() -> str:
    import click

    from mlrepro.cli import cli

    root = click.Context(cli, info_name="mlrepro", **cli.context_settings)
    out = [_command_section(cli, root, "mlrepro", "mlrepro")]
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        if command is None or command.hidden:
            continue
        out.append(_command_section(command, click.Context(command, info_name=name, parent=root), f"mlrepro {name}", name))
    return "\n".join(out)


def _command_section(command: Any, ctx: Any, title: str, anchor: str) -> str:
    import click

    lines = [f"## `{title}` {{ #{anchor} }}\n", "```", command.get_usage(ctx), "```\n"]
    if command.help:
        lines.append(_paragraphs(command.help) + "\n")
    arguments = [p for p in command.get_params(ctx) if isinstance(p, click.Argument)]
    if arguments:
        lines.append("Arguments: " + ", ".join(f"`{_metavar(a, ctx)}`" for a in arguments) + "\n")
    lines.append("| Option | Description |\n| --- | --- |")
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option):
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        if param.multiple and "repeatable" not in help_text.lower():
            help_text = f"{help_text} Repeatable.".strip()
        if param.envvar:
            help_text = f"{help_text} Environment: `{param.envvar}`.".strip()
        lines.append(f"| `{names}` | {_cell(help_text) or ' '} |")
    lines.append("")
    return "\n".join(lines)


def _metavar(param: Any, ctx: Any) -> str:
    try:
        return param.make_metavar(ctx)  # click >= 8.2
    except TypeError:
        return param.make_metavar()


def _paragraphs(text: str) -> str:
    """A click docstring: paragraphs joined, ``\\b`` blocks kept as they are."""
    import inspect

    blocks = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(block.replace("\b\n", "") if block.startswith("\b") else " ".join(block.split()) for block in blocks)


# --- Markdown ---------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """One table cell: no newline, and pipes outside code spans escaped (Python-Markdown does not
    split cells at a pipe inside backticks, and would show a backslash there)."""
    parts = text.replace("\n", " ").split("`")
    return "`".join(part if i % 2 else part.replace("|", "\\|") for i, part in enumerate(parts))

