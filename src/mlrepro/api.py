"""The library surface: what the CLI calls, and what a team's own tooling may call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlrepro.config import CliOverrides, Settings, resolve_settings
from mlrepro.findings import Finding
from mlrepro.formatters import Report


def lint_paths(paths: Sequence[Path], settings: Settings, cwd: Path | None = None, jobs: int | None = None) -> list[Finding]:
    """Lint files and directories; findings sorted by file, row and column."""
    from mlrepro.lint.engine import lint_paths as run

    return run(paths, settings, cwd, jobs).findings


def lint_report(
    paths: Sequence[Path],
    cwd: Path,
    overrides: CliOverrides = CliOverrides(),
    config: Path | None = None,
    isolated: bool = False,
    jobs: int | None = None,
) -> Report:
    """Resolve the configuration, lint, and package the result for a formatter."""
    from mlrepro.lint.engine import Linter, lint_paths as run

    settings = resolve_settings(cwd, config, overrides, isolated)
    linter = Linter(settings)  # validates the selection before any file is read
    result = run(paths, settings, cwd, jobs, linter)
    return Report(
        findings=result.findings,
        rules=tuple(linter.rules[code] for code in sorted(linter.enabled)),
        checked=result.checked,
        command="lint",
        root=cwd.resolve(),
    )
