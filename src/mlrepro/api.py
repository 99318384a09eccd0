"""The library surface: what the CLI calls, and what a team's own tooling may call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
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


def audit_report(
    cwd: Path,
    tracking_uri: str | None = None,
    experiments: Sequence[str] = (),
    repo: Path | None = None,
    since: datetime | None = None,
    artifacts: bool = True,
    overrides: CliOverrides = CliOverrides(),
    config: Path | None = None,
    isolated: bool = False,
    progress: Callable[[int], None] | None = None,
    incremental: bool = False,
) -> Report:
    """Audit the runs and registered models of one tracking store. ``incremental``: only runs
    started, ended or still running since the previous incremental audit of the same store
    (the first one audits everything); the registry is always checked in full."""
    from mlrepro.audit.engine import Auditor
    from mlrepro.audit.policy import load_policy
    from mlrepro.audit.sources import open_sources
    from mlrepro.audit.state import load_state, save_state
    from mlrepro.audit.team_rules import load_team_rules

    settings = resolve_settings(cwd, config, overrides, isolated)
    policy = load_policy(settings)
    sources = open_sources(cwd, settings, policy, tracking_uri, repo, artifacts)
    auditor = Auditor(settings, sources.context, load_team_rules(policy.rules_dir))
    started = datetime.now(timezone.utc)
    previous = load_state(sources.store.uri) if incremental else None
    runs = sources.runs(
        experiments or policy.experiments, policy.exclude_experiments, since, progress,
        changed_since=previous.last_started if previous else None,
    )
    result = auditor.audit(runs, sources.model_versions(), sources.get_run)
    if incremental:
        save_state(sources.store.uri, started)
    return Report(
        findings=result.findings,
        rules=tuple(auditor.rules[code] for code in sorted(auditor.enabled)),
        checked=result.checked,
        command="audit",
        root=sources.context.repo.root if sources.context.repo else cwd.resolve(),
        fail_on=policy.fail_on,
    )
