"""``[tool.mlrepro]`` in the nearest ``pyproject.toml``: one policy for every command.

Precedence is command line > file > defaults. Keys are kebab-case, as in ruff.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrepro.selection import SelectionLayer

# Directories nobody wants linted (ruff's defaults, plus notebook checkpoints and ML outputs).
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".ipynb_checkpoints", ".mypy_cache", ".nox",
    ".pants.d", ".pytest_cache", ".ruff_cache", ".svn", ".tox", ".venv", "__pypackages__",
    "_build", "buck-out", "build", "dist", "node_modules", "site-packages", "venv", ".dvc",
    "mlruns", "wandb",
)

# Test code, benchmarks and docs draw random numbers on purpose and are not training code: the
# seeding and determinism families stay off there unless `per-file-ignores` replaces this table
# (`per-file-ignores = {}` turns it off; `extend-per-file-ignores` adds to it), as `exclude`
# and `extend-exclude` do for DEFAULT_EXCLUDE. Ignores, not excludes: the other rules still run.
DEFAULT_PER_FILE_IGNORES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (glob, ("MLR1", "MLR2"))
    for glob in ("tests", "test", "test_*.py", "*_test.py", "conftest.py", "benchmarks", "benchmark", "docs")
)
# Larger files are reported unread (MLR002): a 50 MB generated module would need gigabytes.
DEFAULT_MAX_FILE_SIZE_KB = 10 * 1024

LINT_KEYS = {
    "select", "ignore", "extend-select", "per-file-ignores", "extend-per-file-ignores", "exclude",
    "extend-exclude", "seed-functions", "max-file-size-kb", "fixable", "unfixable",
}
# Sub-tables owned by the other commands; each reads its own.
SECTIONS = {"audit", "reproduce", "report", "promote", "capture"}
# backend-store-uri: the tracking server's database, read directly by the audit (audit/sources.py).
OTHER_KEYS = {"tracking-uri", "repos", "backend-store-uri"}


class ConfigError(Exception):
    """The configuration file cannot be read or holds a value we cannot use."""


@dataclass(frozen=True)
class Settings:
    root: Path
    config_path: Path | None = None
    file_layer: SelectionLayer = SelectionLayer()
    cli_layer: SelectionLayer = SelectionLayer()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    seed_functions: tuple[str, ...] = ()
    force_exclude: bool = False
    table: Mapping[str, Any] = field(default_factory=dict)
    max_file_bytes: int = DEFAULT_MAX_FILE_SIZE_KB * 1024
    # ``lint --fix``: the codes (prefixes) whose fixes may be applied (None: every fixable
    # rule), minus ``unfixable``, as ruff's ``lint.fixable`` / ``lint.unfixable``.
    fixable: tuple[str, ...] | None = None
    unfixable: tuple[str, ...] = ()

    @property
    def layers(self) -> tuple[SelectionLayer, SelectionLayer]:
        return (self.file_layer, self.cli_layer)

    def section(self, name: str) -> Mapping[str, Any]:
        value = self.table.get(name, {})
        return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class CliOverrides:
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    seed_functions: tuple[str, ...] = ()
    force_exclude: bool = False


def find_config(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has a ``[tool.mlrepro]`` table."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            # A pyproject that does not parse is an error, as in ruff: it may hold the team's
            # policy, and linting under the defaults instead would pass what the policy forbids.
            tool = _read_toml(candidate).get("tool", {})
            if isinstance(tool, Mapping) and "mlrepro" in tool:
                return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _str_list(table: Mapping[str, Any], key: str, path: Path) -> tuple[str, ...] | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: [tool.mlrepro] {key} must be a list of strings")
    return tuple(value)


def _per_file_ignores(
    table: Mapping[str, Any], path: Path | None, key: str = "per-file-ignores"
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: [tool.mlrepro] {key} must be a table of glob = [codes]")
    out = []
    for glob, codes in value.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f"{path}: {key}.{glob!r} must be a list of rule codes")
        out.append((glob, tuple(c.upper() for c in codes)))
    return tuple(out)


def load_table(path: Path) -> dict[str, Any]:
    table = _read_toml(path).get("tool", {}).get("mlrepro", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.mlrepro] must be a table")
    unknown = sorted(set(table) - LINT_KEYS - SECTIONS - OTHER_KEYS)
    if unknown:
        from mlrepro.config_schema import show_key

        raise ConfigError(f"{path}: unknown key(s) in [tool.mlrepro]: {', '.join(map(show_key, unknown))}")
    from mlrepro.config_schema import SchemaError, validate

    try:
        validate(table, path)
    except SchemaError as exc:
        raise ConfigError(str(exc)) from None
    return table


def resolve_settings(
    cwd: Path,
    config: Path | None = None,
    overrides: CliOverrides = CliOverrides(),
    isolated: bool = False,
) -> Settings:
    """Read the configuration (``config`` or the nearest one above ``cwd``) and apply overrides."""
    path = None if isolated else (config or find_config(cwd))
    table: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        table = load_table(path)
    root = path.parent.resolve() if path is not None else cwd.resolve()
    exclude = _str_list(table, "exclude", path) if path else None
    pfi = _per_file_ignores(table, path) if "per-file-ignores" in table else DEFAULT_PER_FILE_IGNORES
    pfi += _per_file_ignores(table, path, "extend-per-file-ignores")
    return Settings(
        root=root,
        config_path=path,
        file_layer=SelectionLayer(
            select=_str_list(table, "select", path) if path else None,
            ignore=(_str_list(table, "ignore", path) if path else None) or (),
            extend_select=(_str_list(table, "extend-select", path) if path else None) or (),
        ),
        cli_layer=SelectionLayer(
            select=overrides.select, ignore=overrides.ignore, extend_select=overrides.extend_select
        ),
        per_file_ignores=pfi + overrides.per_file_ignores,
        exclude=overrides.exclude if overrides.exclude is not None else (exclude if exclude is not None else DEFAULT_EXCLUDE),
        extend_exclude=((_str_list(table, "extend-exclude", path) if path else None) or ()) + overrides.extend_exclude,
        seed_functions=((_str_list(table, "seed-functions", path) if path else None) or ()) + overrides.seed_functions,
        force_exclude=overrides.force_exclude,
        table=table,
        max_file_bytes=int(table.get("max-file-size-kb", DEFAULT_MAX_FILE_SIZE_KB) * 1024),
        fixable=_str_list(table, "fixable", path) if path else None,
        unfixable=(_str_list(table, "unfixable", path) if path else None) or (),
    )


def repo_paths(settings: Settings) -> tuple[tuple[str, Path], ...]:
    """``[tool.mlrepro.repos]``: (repository URL as written, local path of its clone), a relative
    path taken from the configuration file's directory (validated when the file was read)."""
    table = settings.table.get("repos", {})
    if not isinstance(table, Mapping):
        return ()
    base = settings.config_path.parent if settings.config_path is not None else settings.root
    return tuple((url, (base / path).resolve()) for url, path in table.items())


def split_codes(values: Iterable[str]) -> tuple[str, ...]:
    """``--select MLR1,MLR2 --select MLR3`` -> ("MLR1", "MLR2", "MLR3")."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())
