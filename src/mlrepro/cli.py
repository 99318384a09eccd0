"""The command line: thin wiring from options to engines to formatters.

The only module that prints or chooses exit codes: 0 clean, 1 findings, 2 usage,
configuration or internal error (as ruff does). Heavy packages are imported inside the
commands that need them, so ``mlrepro lint one_file.py`` starts about as fast as Python.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from mlrepro import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(click.ClickException):
    """A clear one-line error that exits 2."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        _error(f"mlrepro: error: {self.format_message()}")


class FiniteFloat(click.FloatRange):
    """A float option that refuses NaN and infinity, which would switch its check off
    (``--timeout nan`` never expires, ``--rtol nan`` compares nothing)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            number = 0.0  # not a number at all: click's own message says so
        if not math.isfinite(number):
            name = param.opts[0] if param is not None and param.opts else "value"
            raise UsageFailure(f"{name} {value!r}: must be a finite number")
        return super().convert(value, param, ctx)


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean unusable input, not a bug. Adapter modules are only consulted when
    already imported, so that `mlrepro lint` never pays for them."""
    from mlrepro.config import ConfigError
    from mlrepro.lint.discovery import DiscoveryError
    from mlrepro.registry import CatalogueError

    errors: list[type[BaseException]] = [ConfigError, DiscoveryError, CatalogueError, ValueError, OSError]
    for module, name in (
        ("mlrepro.sources.mlflow_store", "TrackingStoreError"),
        ("mlrepro.sources.git_repo", "GitRepoError"),
        ("mlrepro.sources.dvc_repo", "DvcRepoError"),
        ("mlrepro.sources.wandb_dir", "WandbDirError"),
        ("mlrepro.audit.team_rules", "TeamRuleError"),
        ("mlrepro.reproduce.plan", "PlanError"),
        ("mlrepro.reproduce.workspace", "WorkspaceError"),
        ("mlrepro.reproduce.engine", "ReproduceError"),
        ("mlrepro.promote.gate", "PromoteError"),
    ):
        if module in sys.modules and hasattr(sys.modules[module], name):
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def _emit(text: str, output: Path | None) -> None:
    """Every result a command shows or writes leaves through here (errors through :func:`_error`)."""
    from mlrepro.redaction import redact

    text = redact(text)
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")


def _error(line: str) -> None:
    """One error line on stderr; a message may quote a tracking URI or a tag value."""
    from mlrepro.redaction import redact

    click.echo(redact(line), err=True)


def selection_options(func: F) -> F:
    options = [
        click.option("--select", multiple=True, metavar="CODES", help="Enable only these codes or prefixes (comma-separated); replaces the config's select."),
        click.option("--ignore", multiple=True, metavar="CODES", help="Disable these codes or prefixes."),
        click.option("--extend-select", multiple=True, metavar="CODES", help="Enable these in addition to the selection."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Read [tool.mlrepro] from this pyproject.toml instead of the nearest one."),
        click.option("--isolated", is_flag=True, help="Ignore all configuration files."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def trust_options(func: F) -> F:
    """What a re-execution may run beyond the repository's own entry points (docs/security.md)."""
    options = [
        click.option("--allow-command", is_flag=True, help="Also execute a recorded mlrepro.command that is not a Python script or module of the repository (tag values are not reviewed code)."),
        click.option("--apply-diff", is_flag=True, help="Apply and execute the run's recorded uncommitted diff (without it, such a run is not executed)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _trust(allow_command: bool, apply_diff: bool, reproducing: bool = True) -> Any:
    """The Trust for the engines; says on stderr which option widens what runs."""
    from mlrepro.reproduce.trust import ALLOW_COMMAND, APPLY_DIFF, Trust

    given = [name for name, on in ((ALLOW_COMMAND, allow_command), (APPLY_DIFF, apply_diff)) if on]
    if given and not reproducing:
        raise UsageFailure(f"{' and '.join(given)} needs --reproduce")
    for name in given:
        click.echo(f"mlrepro: {name} given: reproductions may execute code that is not the repository's at the run's commit", err=True)
    return Trust(allow_command=allow_command, apply_diff=apply_diff)


def executor_options(func: F) -> F:
    """Where reproductions run (docs/ray.md); default: [tool.mlrepro.reproduce] executor, else local."""
    options = [
        click.option("--executor", type=click.Choice(["local", "ray"]), help="Where reproductions run: local processes, or tasks on a Ray cluster (default: [tool.mlrepro.reproduce] executor, else local)."),
        click.option("--ray-address", metavar="ADDRESS", help="With --executor ray: the cluster to connect to (default: $RAY_ADDRESS, then [tool.mlrepro.reproduce] ray-address)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _executor_given(executor: str | None, ray_address: str | None, reproducing: bool) -> None:
    given = [name for name, value in (("--executor", executor), ("--ray-address", ray_address)) if value is not None]
    if given and not reproducing:
        raise UsageFailure(f"{' and '.join(given)} needs --reproduce")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="mlrepro")
def cli() -> None:
    """Reproducibility linter and auditor for machine-learning code and runs."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output-format", type=click.Choice(["text", "json", "sarif", "github", "junit"]), default="text", show_default=True, envvar="MLREPRO_OUTPUT_FORMAT")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to this file instead of stdout.")
@selection_options
@click.option("--exclude", multiple=True, metavar="GLOBS", help="Replace the excluded globs (comma-separated).")
@click.option("--extend-exclude", multiple=True, metavar="GLOBS", help="Exclude these globs as well.")
@click.option("--force-exclude", is_flag=True, help="Apply exclusions to files named on the command line too (for pre-commit).")
@click.option("--seed-function", "seed_functions", multiple=True, metavar="QUALNAME", help="A project helper that seeds every generator, e.g. myproj.utils.set_seed.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: one per core for large trees).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the lint cache (.mlrepro_cache/ at the project root).")
@click.option("--no-project", is_flag=True, help="Judge each file on its own, without reading the rest of the project.")
@click.option("--fix/--no-fix", default=False, help="Apply fixes to the findings that have one (safe fixes; see --unsafe-fixes).")
@click.option("--unsafe-fixes/--no-unsafe-fixes", default=False, help="Also apply (or offer) fixes that may change results.")
@click.option("--fix-only/--no-fix-only", default=False, help="Apply fixes but report no remaining findings; exit 0 unless an error.")
@click.option("--show-fixes/--no-show-fixes", default=False, help="List the fixes applied, and mark findings that have a fix with [*].")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them; exit 1 when there is one.")
@click.option("--exit-non-zero-on-fix", is_flag=True, help="Exit 1 when a fix was applied, even if no finding remains.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def lint(
    paths: Sequence[Path], output_format: str, output: Path | None, select: Sequence[str], ignore: Sequence[str],
    extend_select: Sequence[str], config_file: Path | None, isolated: bool, exclude: Sequence[str],
    extend_exclude: Sequence[str], force_exclude: bool, seed_functions: Sequence[str], exit_zero: bool,
    jobs: int | None, no_cache: bool, no_project: bool, verbose: bool, fix: bool = False, unsafe_fixes: bool = False,
    fix_only: bool = False, show_fixes: bool = False, diff: bool = False, exit_non_zero_on_fix: bool = False,
) -> None:
    """Check training code (.py, .ipynb) for unseeded randomness and tracking misuse.

    The files named are reported on; the rest of their project is read to judge them (seeding
    helpers in other modules, the entry points that run a library module). With --fix, the
    findings that have a fix are repaired in place (comments and formatting kept)."""

    def run() -> int:
        from mlrepro.api import lint_fix_report, lint_report
        from mlrepro.config import CliOverrides, split_codes
        from mlrepro.formatters import render

        overrides = CliOverrides(
            select=split_codes(select) if select else None,
            ignore=split_codes(ignore),
            extend_select=split_codes(extend_select),
            exclude=split_codes(exclude) if exclude else None,
            extend_exclude=split_codes(extend_exclude),
            seed_functions=tuple(seed_functions),
            force_exclude=force_exclude,
        )
        targets = list(paths) or [Path(".")]
        if not (fix or fix_only or diff or show_fixes or unsafe_fixes):
            report = lint_report(targets, Path.cwd(), overrides, config_file, isolated, jobs, project=not no_project, cache=not no_cache)
            _emit(render(output_format, report), output)
            return EXIT_CLEAN if exit_zero or not report.findings else EXIT_FINDINGS
        return _lint_fixing(
            lint_fix_report(
                targets, Path.cwd(), overrides, config_file, isolated, jobs, project=not no_project, cache=not no_cache,
                write=(fix or fix_only) and not diff, unsafe=unsafe_fixes, show=show_fixes,
            ),
            output_format, output, fix_only=fix_only, diff=diff, exit_zero=exit_zero, exit_non_zero_on_fix=exit_non_zero_on_fix,
        )

    sys.exit(_guard(run, verbose))


def _lint_fixing(
    result: tuple[Any, Any], output_format: str, output: Path | None, *, fix_only: bool, diff: bool, exit_zero: bool,
    exit_non_zero_on_fix: bool,
) -> int:
    """Output and exit code of ``lint`` with a fix option, as ruff's: ``--diff`` prints the
    diff and exits 1 when there is one (writing nothing); ``--fix-only`` says how many were fixed
    and exits 0; ``--fix`` reports what remains and exits 1 only when something does."""
    from mlrepro.formatters import render
    from mlrepro.formatters.text_format import fixed_listing, hint_line

    report, fix_run = result
    if diff:
        would = len(fix_run.applied)
        _emit(fix_run.diff, output)
        if would:
            click.echo(f"Would fix {would} finding{'s' if would != 1 else ''}.", err=True)
        else:
            hidden = report.fixes.hidden
            more = f" ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled with the `--unsafe-fixes` option)" if hidden else ""
            click.echo(f"No findings would be fixed{more}.", err=True)
        return EXIT_FINDINGS if fix_run.changed and not exit_zero else EXIT_CLEAN
    fixed = len(report.fixes.fixed)
    if fix_only:
        lines = fixed_listing(report.fixes) if report.fixes.show else []
        if fixed and not report.fixes.show:
            lines.append(f"Fixed {fixed} finding{'s' if fixed != 1 else ''}.")
        hint = hint_line(report.fixes) if report.fixes.hidden else None
        if hint is not None:
            lines.append(hint)
        _emit("".join(f"{line}\n" for line in lines), output)
        return EXIT_FINDINGS if exit_non_zero_on_fix and fixed and not exit_zero else EXIT_CLEAN
    _emit(render(output_format, report), output)
    if exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if report.findings or (exit_non_zero_on_fix and fixed) else EXIT_CLEAN


@cli.command()
@click.option("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, then [tool.mlrepro] tracking-uri, then sqlite:///mlflow.db).")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME", help="Audit only these experiments (name or id); repeatable.")
@click.option("--repo", "repos", multiple=True, type=click.Path(file_okay=False, path_type=Path), help="The git repository of the runs' code (default: the one enclosing the current directory); repeatable when the store holds runs of several repositories (each run is matched by its recorded remote).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]), help="Only runs started at or after this date (ISO 8601, UTC unless an offset is given).")
@click.option("--incremental", is_flag=True, help="Only runs started, ended or still running since the previous --incremental audit of this store.")
@click.option("--artifacts/--no-artifacts", default=True, show_default=True, help="List artifacts (size limits, environment files). Costs one listing per directory per run.")
@click.option("--output-format", type=click.Choice(["text", "json", "sarif", "github", "junit"]), default="text", show_default=True, envvar="MLREPRO_OUTPUT_FORMAT")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to this file instead of stdout.")
@click.option("--fail-on", type=click.Choice(["note", "warning", "error"]), help="Exit 1 only for findings at or above this level (default: [tool.mlrepro.audit] fail-on, else note).")
@click.option("--reproduce", is_flag=True, help="Re-execute served models' runs and runs with error findings, and report the verdicts (MLR901, MLR902). Writes new runs to the store.")
@click.option("--max-reproductions", type=click.IntRange(min=0), metavar="N", help="With --reproduce: re-execute at most N runs.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="With --reproduce: reproductions running at once.")
@click.option("--timeout", type=FiniteFloat(min=1), default=3600, show_default=True, help="With --reproduce: seconds before a reproduction is killed.")
@click.option("--wandb-dir", "wandb_dirs", multiple=True, type=click.Path(path_type=Path), metavar="PATH", help="Audit the W&B runs in this wandb/ directory (or one run directory) too; repeatable (default: ./wandb when present).")
@trust_options
@executor_options
@selection_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def audit(
    tracking_uri: str | None, experiments: Sequence[str], repos: Sequence[Path], since: Any, incremental: bool, artifacts: bool,
    output_format: str, output: Path | None, fail_on: str | None, reproduce: bool, max_reproductions: int | None, jobs: int,
    timeout: float, wandb_dirs: Sequence[Path], select: Sequence[str], ignore: Sequence[str],
    extend_select: Sequence[str], config_file: Path | None, isolated: bool, quiet: bool, verbose: bool,
    allow_command: bool = False, apply_diff: bool = False, executor: str | None = None, ray_address: str | None = None,
) -> None:
    """Audit MLflow runs and registered models, and W&B run directories, for reproducibility defects (read-only unless --reproduce)."""

    def run() -> int:
        from datetime import timezone

        from mlrepro.api import audit_report
        from mlrepro.config import CliOverrides, split_codes
        from mlrepro.formatters import render

        overrides = CliOverrides(
            select=split_codes(select) if select else None, ignore=split_codes(ignore), extend_select=split_codes(extend_select)
        )
        if since and incremental:
            raise UsageFailure("--since and --incremental exclude each other")
        when = since.replace(tzinfo=since.tzinfo or timezone.utc) if since else None
        trust = _trust(allow_command, apply_diff, reproduce)
        _executor_given(executor, ray_address, reproduce)
        progress = None if quiet or not sys.stderr.isatty() else _progress_printer()
        report = audit_report(
            Path.cwd(), tracking_uri, experiments, repos[0] if repos else None, when, artifacts, overrides, config_file, isolated, progress, incremental,
            reproduce=reproduce, max_reproductions=max_reproductions, jobs=jobs, timeout=timeout, wandb_dirs=wandb_dirs, trust=trust,
            other_repos=repos[1:], executor=executor, ray_address=ray_address,
        )
        if progress is not None:
            click.echo("", err=True)
        _emit(render(output_format, report), output)
        if output_format == "json":  # ruff's plain array has no room for the notes
            for note in report.notes:
                _error(f"mlrepro: info: {note}")
        return _exit_for(report, fail_on)

    sys.exit(_guard(_stoppable(run) if reproduce else run, verbose))


def _exit_for(report: Any, fail_on: str | None) -> int:
    """1 when a finding is at or above ``--fail-on`` (else the policy's ``fail-on``), else 0."""
    from mlrepro.findings import Severity

    level = fail_on or report.fail_on
    threshold = Severity.INFO if level == "note" else Severity.parse(level)
    return EXIT_FINDINGS if any(f.severity.rank >= threshold.rank for f in report.findings) else EXIT_CLEAN


def _tolerance_option(values: Sequence[str]) -> dict[str, Any]:
    from mlrepro.config_schema import tolerance_spec
    from mlrepro.reproduce.compare import Tolerance

    parsed = {}
    for value in values:
        name, sep, spec = value.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            rtol, atol = tolerance_spec(spec)
            parsed[name] = Tolerance(rtol, atol if atol is not None else Tolerance().atol)
        except ValueError:
            raise UsageFailure(f"--tolerance {value!r}: expected NAME=RTOL[:ATOL], finite numbers >= 0") from None
    return parsed


def _per_metric_tolerances(settings: Any, tolerances: Sequence[str]) -> dict[str, Any]:
    """``[tool.mlrepro.reproduce.tolerances]``, then ``--tolerance`` (the command line wins)."""
    from mlrepro.reproduce.compare import configured_tolerances

    per_metric: dict[str, Any] = dict(configured_tolerances(settings.section("reproduce").get("tolerances", {})))
    per_metric.update(_tolerance_option(tolerances))
    return per_metric


@cli.command()
@click.argument("run_id")
@click.option("--tracking-uri", metavar="URI", help="MLflow tracking URI (default as for audit).")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), help="The git repository of the run's code (default: the one around the current directory, or the clone [tool.mlrepro.repos] maps the run's repository URL to).")
@click.option("--timeout", type=FiniteFloat(min=1), default=3600, show_default=True, help="Seconds before the whole process group is killed.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True, help="Re-run N times and report each metric's spread.")
@click.option("--rtol", type=FiniteFloat(min=0), default=1e-9, show_default=True)
@click.option("--atol", type=FiniteFloat(min=0), default=1e-12, show_default=True)
@click.option("--tolerance", "tolerances", multiple=True, metavar="NAME=RTOL[:ATOL]", help="A per-metric tolerance; repeatable.")
@click.option("--record", is_flag=True, help="Tag the original run with the verdict (mlrepro.reproduced.*).")
@click.option("--history", is_flag=True, help="Also compare each metric's per-step history, not only its final value.")
@click.option("--env-manager", type=click.Choice(["local", "virtualenv", "uv", "conda"]), default="local", show_default=True, help="For an MLflow Projects run: the environment to re-execute it in, built by MLflow's environment manager from the project's python_env.yaml / conda.yaml at the run's commit, as `mlflow run --env-manager` does (local: this Python environment).")
@trust_options
@executor_options
@click.option("--wandb-dir", "wandb_dirs", multiple=True, type=click.Path(path_type=Path), metavar="PATH", help="For RUN_ID wandb:ID: the wandb/ directory (or run directory) holding it; repeatable (default: ./wandb).")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def reproduce(
    run_id: str, tracking_uri: str | None, repo: Path | None, timeout: float, repeats: int, rtol: float, atol: float,
    tolerances: Sequence[str], record: bool, history: bool, env_manager: str, wandb_dirs: Sequence[Path], output_format: str, output: Path | None,
    verbose: bool, allow_command: bool = False, apply_diff: bool = False, executor: str | None = None, ray_address: str | None = None,
) -> None:
    """Re-execute a run at its commit and compare the new metrics with the originals (W&B runs: wandb:RUN_ID)."""

    def run() -> int:
        import json

        from mlrepro.config import resolve_settings
        from mlrepro.reproduce.compare import Tolerance
        from mlrepro.api import reproduce_root
        from mlrepro.reproduce.engine import result_json, result_text
        from mlrepro.reproduce.executors import reproduce_one, resolve_executor
        from mlrepro.sources.mlflow_store import MlflowStore, resolve_tracking_uri

        settings = resolve_settings(Path.cwd())
        per_metric = _per_metric_tolerances(settings, tolerances)  # bad input before opening anything
        where = resolve_executor(settings.section("reproduce"), executor, ray_address)
        target: Any
        wanted = run_id
        if run_id.startswith("wandb:"):
            from mlrepro.reproduce.wandb_target import WandbTarget

            wanted = run_id[len("wandb:"):]
            if record:
                raise UsageFailure("--record keeps the verdict on MLflow runs only: W&B run directories are left as they are")
            if env_manager != "local":
                raise UsageFailure("--env-manager builds MLflow Projects environments: W&B runs are re-executed in this environment")
            target = WandbTarget.open(list(wandb_dirs) or [Path("wandb")])
        elif wandb_dirs:
            raise UsageFailure("--wandb-dir: name the W&B run as wandb:RUN_ID")
        else:
            configured = settings.table.get("tracking-uri")
            target = MlflowStore.open(resolve_tracking_uri(tracking_uri, configured if isinstance(configured, str) else None), writable=True)
        root = reproduce_root(Path.cwd(), settings, repo, lambda: target.get_run(wanted))
        trust = _trust(allow_command, apply_diff)
        result = reproduce_one(
            where, target, wanted, root, timeout=timeout, repeats=repeats, tolerance=Tolerance(rtol, atol), per_metric=per_metric,
            record=record, history=history, trust=trust, env_manager=env_manager,
        )
        text = json.dumps(result_json(result), indent=2) + "\n" if output_format == "json" else result_text(result)
        _emit(text, output)
        return EXIT_CLEAN if result.reproduced else EXIT_FINDINGS

    sys.exit(_guard(_stoppable(run), verbose))


@cli.command()
@click.argument("model")
@click.argument("version")
@click.option("--to", "to", required=True, metavar="production|staging|ALIAS", help="The stage (where the registry still has stages; else the alias of that name) or the alias to promote to.")
@click.option("--reproduce", "reproduce_run", is_flag=True, help="Also re-execute the source run at its commit; diverged or failed blocks. Logs the reproduction run into the store.")
@click.option("--must-beat", multiple=True, metavar="METRIC[:MIN_ABS[:MIN_REL]][:higher|lower]", help="The candidate's metric must beat the version holding the target (higher is better unless :lower); repeatable. Default: [tool.mlrepro.promote] must-beat.")
@click.option("--archive-previous", is_flag=True, help="With a stage: archive the versions that held it.")
@click.option("--dry-run", is_flag=True, help="Judge the version and show what would change; change nothing.")
@click.option("--tracking-uri", metavar="URI", help="MLflow tracking URI (default as for audit).")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), help="The git repository of the run's code (default: the one around the current directory).")
@click.option("--timeout", type=FiniteFloat(min=1), default=3600, show_default=True, help="With --reproduce: seconds before the re-execution is killed.")
@click.option("--rtol", type=FiniteFloat(min=0), default=1e-9, show_default=True, help="With --reproduce.")
@click.option("--atol", type=FiniteFloat(min=0), default=1e-12, show_default=True, help="With --reproduce.")
@click.option("--tolerance", "tolerances", multiple=True, metavar="NAME=RTOL[:ATOL]", help="With --reproduce: a per-metric tolerance; repeatable.")
@trust_options
@executor_options
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Read [tool.mlrepro] from this pyproject.toml instead of the nearest one.")
@click.option("--isolated", is_flag=True, help="Ignore all configuration files.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def promote(
    model: str, version: str, to: str, reproduce_run: bool, must_beat: Sequence[str], archive_previous: bool, dry_run: bool,
    tracking_uri: str | None, repo: Path | None, timeout: float, rtol: float, atol: float, tolerances: Sequence[str],
    output_format: str, output: Path | None, config_file: Path | None, isolated: bool, verbose: bool,
    allow_command: bool = False, apply_diff: bool = False, executor: str | None = None, ray_address: str | None = None,
) -> None:
    """Promote a registered model version only when its run passes the gates (the deployment gate).

    Audits the version's source run (error-level findings block), then optionally compares
    metrics with the version holding the target (--must-beat) and re-executes the run
    (--reproduce). When every gate passes, sets the alias or moves the stage and tags the
    version with the trail (mlrepro.promoted_by, promoted_at, gate, audit_digest, reproduced).
    Exit 0 promoted (or would be, with --dry-run), 1 a gate failed (nothing changed), 2 unusable input.
    """

    def run() -> int:
        import json

        from mlrepro.api import promote as promote_version
        from mlrepro.config import resolve_settings
        from mlrepro.promote.gate import result_json, result_text
        from mlrepro.reproduce.compare import Tolerance

        settings = resolve_settings(Path.cwd(), config_file, isolated=isolated)
        per_metric = _per_metric_tolerances(settings, tolerances)
        _executor_given(executor, ray_address, reproduce_run)
        result = promote_version(
            Path.cwd(), model, version, to, tracking_uri=tracking_uri, repo=repo, reproduce=reproduce_run,
            must_beat=must_beat, archive_previous=archive_previous, dry_run=dry_run, tolerance=Tolerance(rtol, atol),
            per_metric=per_metric, timeout=timeout, config=config_file, isolated=isolated,
            trust=_trust(allow_command, apply_diff, reproduce_run), executor=executor, ray_address=ray_address,
        )
        text = json.dumps(result_json(result), indent=2) + "\n" if output_format == "json" else result_text(result)
        _emit(text, output)
        return EXIT_CLEAN if result.passed else EXIT_FINDINGS

    sys.exit(_guard(_stoppable(run) if reproduce_run else run, verbose))


@cli.command()
@click.option("--tracking-uri", metavar="URI", help="MLflow tracking URI (default as for audit).")
@click.option("--repo", "repos", multiple=True, type=click.Path(file_okay=False, path_type=Path), help="The git repository of the runs' code (default: the one around the current directory); repeatable, as for audit.")
@click.option("--reproduce", is_flag=True, help="Re-execute served models' runs and runs with error findings (writes new runs to the store).")
@click.option("--max-reproductions", type=click.IntRange(min=0), metavar="N", help="With --reproduce: re-execute at most N runs.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="With --reproduce: reproductions running at once.")
@click.option("--timeout", type=FiniteFloat(min=1), default=3600, show_default=True, help="With --reproduce: seconds before a reproduction is killed.")
@click.option("--history", type=click.Path(file_okay=False, path_type=Path), metavar="DIR", help="Keep each night's result here (one JSON file per date) and chart the trend over them.")
@click.option("--artifacts/--no-artifacts", default=True, show_default=True, help="List artifacts (size limits, environment files), as audit does.")
@trust_options
@executor_options
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The HTML file to write.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Also write the audit as JSON (audit's --output-format json).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Also write the audit as JUnit XML.")
@click.option("--sarif", "sarif_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="Also write the audit as SARIF 2.1.0 (for code scanning).")
@click.option("--fail-on", type=click.Choice(["note", "warning", "error"]), help="Exit 1 only for findings at or above this level (default: [tool.mlrepro.audit] fail-on, else note).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Read [tool.mlrepro] from this pyproject.toml instead of the nearest one.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def report(
    tracking_uri: str | None, repos: Sequence[Path], reproduce: bool, max_reproductions: int | None, jobs: int, timeout: float,
    history: Path | None, artifacts: bool, output: Path, json_path: Path | None, junit_path: Path | None, sarif_path: Path | None, fail_on: str | None,
    config_file: Path | None, verbose: bool, allow_command: bool = False, apply_diff: bool = False,
    executor: str | None = None, ray_address: str | None = None,
) -> None:
    """Audit (and optionally reproduce) and write one self-contained HTML report with trends over nights."""

    def run() -> int:
        from mlrepro.api import nightly_report
        from mlrepro.formatters import render

        if max_reproductions is not None and not reproduce:
            raise UsageFailure("--max-reproductions needs --reproduce")
        _executor_given(executor, ray_address, reproduce)
        result = nightly_report(
            Path.cwd(), output, tracking_uri, repos[0] if repos else None, history, reproduce, max_reproductions, json_path, junit_path, config_file,
            jobs=jobs, timeout=timeout, trust=_trust(allow_command, apply_diff, reproduce), artifacts=artifacts, other_repos=repos[1:],
            executor=executor, ray_address=ray_address,
        )
        for skipped in result.skipped_history:
            click.echo(f"mlrepro: warning: history: skipped {skipped}", err=True)
        if sarif_path is not None:
            _emit(render("sarif", result.report), sarif_path)
        return _exit_for(result.report, fail_on)

    sys.exit(_guard(_stoppable(run) if reproduce else run, verbose))


@cli.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("mlrepro-demo"), show_default=True,
              help="Where to build the demo: a new or empty directory, or a previous demo (which is replaced).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
def demo(directory: Path, verbose: bool) -> None:
    """Build a small team project with real MLflow runs and the classic mistakes, then lint,
    audit and reproduce it and write the HTML report. Needs `pip install 'mlrepro[demo]'`."""

    def run() -> int:
        from mlrepro.api import demo as build

        click.echo(f"mlrepro demo: building a team project with its MLflow runs in {directory.resolve()} (about a minute)")
        result = build(directory, lambda line: click.echo(f"  {line}"))
        click.echo("")
        names = {f.code: f"{f.code} {f.name}" for f in (*result.audit.findings, *result.lint.findings)}
        click.echo(f"What the audit found ({len(result.audit.findings)} findings; `mlrepro audit` in {result.directory} shows them all):")
        for demo_run in result.runs:
            codes = ", ".join(names[code] for code in result.codes(demo_run.key)) or "no findings"
            click.echo(f"  {demo_run.key:<13} {codes}")
        for version, key in result.versions.items():
            codes = sorted({f.code for f in result.audit.findings if f.run and f.run.model == f"{result.model}/{version}"})
            click.echo(f"  {'model v' + version:<13} {', '.join(names[c] for c in codes) or 'no findings'} ({result.model}, from the {key} run)")
        verdicts = ", ".join(f"{key} run {r.verdict}" for key, r in result.reproductions.items())
        click.echo(f"Reproductions: {verdicts}.")
        click.echo(f"What lint found in the code ({len(result.lint.findings)} findings; `mlrepro lint` in {result.directory} explains them):")
        for finding in result.lint.findings:
            where = f"{finding.filename}:{finding.location.row}" if finding.location else str(finding.filename)
            click.echo(f"  {where:<16} {names[finding.code]}")
        click.echo("")
        click.echo(f"Report: {result.report_path}")
        click.echo(f"Done in {result.seconds:.0f} s. Next: cd {result.directory} and try `mlrepro audit`, `mlrepro reproduce RUN_ID`, or open the report.")
        return EXIT_CLEAN  # the findings are the point of the demo, not a failure

    sys.exit(_guard(run, verbose))


def _progress_printer() -> Callable[[int], None]:
    """A one-line counter on stderr for long audits (only on a terminal)."""

    def show(count: int) -> None:
        if count % 200 == 0:
            click.echo(f"\rmlrepro audit: {count} runs", err=True, nl=False)

    return show


@cli.command()
@click.argument("code", required=False)
@click.option("--output-format", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Show every rule in full.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Read [tool.mlrepro] from this pyproject.toml instead of the nearest one.")
@click.option("--isolated", is_flag=True, help="Ignore all configuration files: the catalogue only, without the team's rules.")
def rules(code: str | None, output_format: str, show_all: bool, config_file: Path | None, isolated: bool) -> None:
    """List the rules (the catalogue, then the team's rules from [tool.mlrepro.audit] rules-dir),
    or explain one (mlrepro rules MLR101)."""

    def run() -> int:
        from mlrepro import rule_docs
        from mlrepro.registry import find_rule, load_catalogue

        catalogue = [*load_catalogue(), *_team_rules(config_file, isolated)]
        if code is None:
            click.echo(rule_docs.render_catalogue(catalogue, output_format, full=show_all), nl=False)
            return EXIT_CLEAN
        rule = find_rule(code, catalogue)
        if rule is None:
            raise UsageFailure(f"unknown rule {code!r} (see `mlrepro rules`)")
        click.echo(rule_docs.render_rule(rule, output_format), nl=False)
        return EXIT_CLEAN

    sys.exit(_guard(run, verbose=False))


def _team_rules(config_file: Path | None, isolated: bool) -> list[Any]:
    """The rules in the nearest configuration's ``rules-dir`` (none without one: no PyYAML)."""
    from mlrepro.config import resolve_settings

    settings = resolve_settings(Path.cwd(), config_file, isolated=isolated)
    rules_dir = settings.section("audit").get("rules-dir")
    if rules_dir is None:
        return []
    from mlrepro.audit.policy import load_policy
    from mlrepro.audit.team_rules import load_team_rules

    return [rule for rule, _ in load_team_rules(load_policy(settings).rules_dir)]


def _stoppable(run: Callable[[], int]) -> Callable[[], int]:
    """For commands that re-execute runs: SIGTERM, SIGHUP and SIGINT stop the training, remove
    the worktree and end the reproduction run as KILLED before exiting 128 + the signal."""

    def stoppable() -> int:
        from mlrepro.reproduce.interrupt import Interrupted, ended, handle_signals

        try:
            with handle_signals():
                return run()
        except Interrupted as exc:
            what = "; ".join(ended()) or "no reproduction run was under way"
            click.echo(f"mlrepro: stopped by {exc.signame}: {what}", err=True)
            return 128 + int(exc.signum)

    return stoppable


def _guard(run: Callable[[], int], verbose: bool) -> int:
    """One error handler for every command: expected errors become one line and exit 2."""
    try:
        return run()
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        click.echo("mlrepro: interrupted", err=True)
        return 130
    except _expected_errors() as exc:
        if verbose:  # the traceback, and still the exit code of unusable input
            import traceback

            traceback.print_exc()
        _error(f"mlrepro: error: {exc}")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence must catch everything
        if verbose:
            import traceback

            traceback.print_exc()
        _error(f"mlrepro: internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)")
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    from mlrepro.capture.resumed import not_in_this_process

    not_in_this_process()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mlrepro", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("mlrepro: aborted", err=True)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else EXIT_ERROR
    return EXIT_CLEAN


def entry() -> None:
    """The ``mlrepro`` console script and ``python -m mlrepro``: :func:`main`, then exit.

    Once the command is done, the objects it made (MLflow's import alone leaves about a million)
    are frozen out of the garbage collector: the interpreter's last collection would otherwise
    walk them all only to throw them away, some 0.6 s at the end of every MLflow command. The
    atexit handlers still run and files are still flushed and closed."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)
