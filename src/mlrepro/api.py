"""The library surface: what the CLI calls, and what a team's own tooling may call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrepro.config import CliOverrides, Settings, repo_paths, resolve_settings
from mlrepro.findings import Finding
from mlrepro.formatters import Report

if TYPE_CHECKING:
    from mlrepro.audit.engine import Auditor
    from mlrepro.audit.sources import AuditSources
    from mlrepro.demo.scenario import DemoResult
    from mlrepro.lint.fixing import FixRun
    from mlrepro.nightly.model import AuditDetails, NightlyReport
    from mlrepro.promote.gate import PromotionResult
    from mlrepro.reproduce.compare import Tolerance
    from mlrepro.reproduce.executors import Executor
    from mlrepro.reproduce.trust import Trust
    from mlrepro.records import ModelVersionRecord, RunRecord

# The rules whose checks read reproduction verdicts (rules/MLR9xx.yaml).
REPRODUCTION_CODES = frozenset({"MLR901", "MLR902"})


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
    project: bool = True,
    cache: bool = True,
) -> Report:
    """Resolve the configuration, lint, and package the result for a formatter."""
    from mlrepro.lint.engine import Linter, lint_paths as run

    settings = resolve_settings(cwd, config, overrides, isolated)
    linter = Linter(settings)  # validates the selection before any file is read
    result = run(paths, settings, cwd, jobs, linter, project=project, cache=cache)
    return Report(
        findings=result.findings,
        rules=tuple(linter.rules[code] for code in sorted(linter.enabled)),
        checked=result.checked,
        command="lint",
        root=cwd.resolve(),
    )


def lint_fix_report(
    paths: Sequence[Path],
    cwd: Path,
    overrides: CliOverrides = CliOverrides(),
    config: Path | None = None,
    isolated: bool = False,
    jobs: int | None = None,
    project: bool = True,
    cache: bool = True,
    *,
    write: bool = False,
    unsafe: bool = False,
    show: bool = False,
) -> tuple[Report, FixRun]:
    """``lint --fix`` and friends: lint, plan the fixes of the findings and, with ``write``,
    apply them (safe ones; unsafe ones too with ``unsafe``) and lint again for what remains.
    Without ``write`` nothing is written: the returned run holds the diff (``--diff``). The
    report's findings carry the fixes still on offer (``Finding.autofix``) and ``report.fixes``
    what was fixed; ``show`` asks the text format to list them (``--show-fixes``)."""
    from dataclasses import replace

    from mlrepro.formatters import FixSummary
    from mlrepro.lint.engine import Linter, lint_paths as run
    from mlrepro.lint.fixing import fix_findings

    settings = resolve_settings(cwd, config, overrides, isolated)
    linter = Linter(settings)
    result = run(paths, settings, cwd, jobs, linter, project=project, cache=cache)
    fix_run = fix_findings(result.findings, linter, cwd, write=write, unsafe=unsafe, seeders=result.seeders)
    offered = fix_run.offered
    findings = result.findings
    if write and fix_run.changed:
        result = run(paths, settings, cwd, jobs, linter, project=project, cache=cache)
        # What is left, with the fixes still on offer planned on the files as they are now.
        offered = fix_findings(result.findings, linter, cwd, write=False, unsafe=unsafe, seeders=result.seeders).offered
        findings = result.findings
    findings = [replace(f, autofix=offered[id(f)]) if id(f) in offered else f for f in findings]
    fixable = [f.autofix for f in findings if f.autofix is not None]
    summary = FixSummary(
        applied=write,
        fixed=tuple((display, finding.code, finding.name) for display, finding, _ in fix_run.applied) if write else (),
        fixable=sum(1 for fix in fixable if fix.applicability == "safe" or unsafe),
        hidden=0 if unsafe else sum(1 for fix in fixable if fix.applicability == "unsafe"),
        show=show,
        unsafe=unsafe,
    )
    report = Report(
        findings=findings,
        rules=tuple(linter.rules[code] for code in sorted(linter.enabled)),
        checked=result.checked,
        command="lint",
        root=cwd.resolve(),
        fixes=summary,
    )
    return report, fix_run


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
    reproduce: bool = False,
    max_reproductions: int | None = None,
    jobs: int = 1,
    timeout: float = 3600.0,
    wandb_dirs: Sequence[Path] = (),
    details: AuditDetails | None = None,
    trust: Trust | None = None,
    other_repos: Sequence[Path] = (),
    executor: str | None = None,
    ray_address: str | None = None,
) -> Report:
    """Audit the runs and registered models of one tracking store. ``incremental``: only runs
    started, ended or still running since the previous incremental audit of the same store
    (the first one audits everything); the registry is always checked in full.

    ``reproduce``: then re-execute the runs behind served model versions and the runs with
    error findings (at most ``max_reproductions``, ``jobs`` at a time, each killed after
    ``timeout`` seconds) and add their verdicts (MLR901, MLR902). This writes new runs to the
    store; without it the audit is read-only. ``trust``: what the re-executions may run beyond
    the repository's own entry points (``reproduce/trust.py``; default: nothing more).

    ``wandb_dirs``: W&B directories (``wandb/`` or one run directory) whose runs are audited
    alongside the store's, default ``./wandb`` when present; with no store configured and none
    at the default location, the W&B runs alone. They are read in full even when
    ``incremental``; ``reproduce`` re-executes them W&B offline into a fresh directory.

    ``other_repos``: more repositories whose runs the store holds (``--repo`` again), on top of
    the clones ``[tool.mlrepro.repos]`` maps repository URLs to (``other_repos`` win for the URLs
    they serve): each run is checked against, and re-executed from, the one its recorded repo
    URL names. Runs of a repository none of them is are not checked against any (``Report.notes``).
    ``executor``, ``ray_address``: where the reproductions run (``--executor``, ``--ray-address``;
    default ``[tool.mlrepro.reproduce]``, else local: ``reproduce/executors.py``).

    ``details``: filled with what the audit saw besides findings (the runs, the model
    versions, the reproductions, the redacted store URI, the repository's HEAD), for the
    nightly report."""
    from mlrepro.audit.engine import Auditor
    from mlrepro.audit.policy import load_policy
    from mlrepro.audit.sources import open_repos, open_sources
    from mlrepro.audit.state import load_state, save_state
    from mlrepro.audit.team_rules import load_team_rules
    from mlrepro.redaction import redact
    from mlrepro.reproduce.executors import resolve_executor

    settings = resolve_settings(cwd, config, overrides, isolated)
    policy = load_policy(settings)
    chosen_executor = resolve_executor(settings.section("reproduce"), executor, ray_address) if reproduce else None  # bad input before the audit
    sources = open_sources(cwd, settings, policy, tracking_uri, repo, artifacts, wandb_dirs, writable=reproduce)
    others, own_urls = open_repos(sources.context.repo, other_repos, repo_paths(settings), settings.config_path)
    auditor = Auditor(settings, sources.context, load_team_rules(policy.rules_dir), other_repos=others, own_urls=own_urls)
    started = datetime.now(timezone.utc)
    previous = load_state(sources.store.uri) if incremental and sources.store is not None else None
    runs = sources.runs(
        experiments or policy.experiments, policy.exclude_experiments, since, progress,
        changed_since=previous.last_started if previous else None,
    )
    versions = sources.model_versions()
    if reproduce:
        if sources.context.repo is None and not others:
            raise ValueError("--reproduce needs the runs' git repository: run inside it, pass --repo, or map it in [tool.mlrepro.repos]")
        runs = list(runs)  # looked at again after the reproductions
    if details is not None:
        runs = list(runs)
    result = auditor.audit(runs, versions, sources.get_run)
    findings = result.findings
    if reproduce:
        foreign_ids = {run_id for ids in result.foreign.values() for run_id in ids}
        findings = _add_reproductions(auditor, sources, runs, versions, findings, max_reproductions, jobs, timeout, trust, foreign_ids, chosen_executor)
    if incremental and sources.store is not None:
        save_state(sources.store.uri, started)
    if details is not None:
        _fill_details(details, sources, runs, versions)
        details.not_checked = sum(len(ids) for ids in result.foreign.values())
    return Report(
        findings=findings,
        rules=tuple(auditor.rules[code] for code in sorted(auditor.enabled)),
        checked=result.checked,
        command="audit",
        root=sources.context.repo.root if sources.context.repo else cwd.resolve(),
        fail_on=policy.fail_on,
        notes=(*sources.notes, *(_not_checked(redact(url), len(ids), auditor.roots) for url, ids in sorted(result.foreign.items()))),
    )


def _not_checked(url: str, count: int, roots: Sequence[Path]) -> str:
    """The info line for the runs of a repository that no audited one is."""
    if len(roots) == 1:
        against = f"this repository ({roots[0]})"
    else:
        against = f"these repositories ({', '.join(map(str, roots))})" if roots else "any repository"
    return (
        f"{count} run{'s' if count != 1 else ''} of {url} not checked against {against}: audit from that repository, "
        "pass it with --repo, or map its URL to a clone in [tool.mlrepro.repos]"
    )


def _add_reproductions(
    auditor: Auditor,
    sources: AuditSources,
    runs: Sequence[RunRecord],
    versions: Sequence[ModelVersionRecord],
    findings: list[Finding],
    limit: int | None,
    jobs: int,
    timeout: float,
    trust: Trust | None = None,
    foreign: frozenset[str] | set[str] = frozenset(),
    executor: Executor | None = None,
) -> list[Finding]:
    """Reproduce the audit's candidates (never ``foreign``: runs of another repository, whose
    commit this one cannot check out) and judge them with the MLR9xx checks (the other run
    rules already spoke in the first pass), then judge the registry again: a served model whose
    run did not come back fails MLR801 even if nothing else was wrong with the run."""
    from mlrepro.findings import sort_findings
    from mlrepro.reproduce.bulk import NotStarted, candidates, reproduce_many
    from mlrepro.reproduce.executors import Executor
    from mlrepro.reproduce.trust import Trust

    trust = trust or Trust()
    by_id = {run.run_id: run for run in runs}
    chosen = candidates(
        [f for f in findings if not (f.run and f.run.run_id in foreign)], [v for v in versions if v.run_id not in foreign],
        by_id, sources.get_run, limit,
    )
    # Each run through its own tracker (MLflow runs into the store, W&B runs offline into a
    # fresh directory, reading the originals from the audited dirs), from its own repository
    # (``--repo`` given several times, ``[tool.mlrepro.repos]``).
    root = sources.context.repo.root if sources.context.repo is not None else None
    groups: dict[tuple[str, Path | None], list[str]] = {}
    for run_id in chosen:
        run = by_id.get(run_id) or sources.get_run(run_id)
        tracker = "wandb" if run is not None and run.source == "wandb" else "mlflow"
        groups.setdefault((tracker, (auditor.repo_root_for(run) if run is not None else None) or root), []).append(run_id)
    targets: dict[str, Any] = {"mlflow": sources.store, "wandb": None}
    if sources.wandb is not None and any(tracker == "wandb" for tracker, _ in groups):
        from mlrepro.reproduce.wandb_target import WandbTarget

        targets["wandb"] = WandbTarget(sources.wandb)  # one: its reproductions share an output directory
    outcomes: dict[str, Any] = {}
    for (tracker, repo_root), ids in groups.items():
        target = targets[tracker]
        if target is None:
            continue
        if repo_root is None:
            reason = "no git repository to re-execute it from: its repository URL is not recorded (run inside its repository or pass --repo)"
            outcomes.update({run_id: NotStarted(run_id, reason) for run_id in ids})
            continue
        outcomes.update(reproduce_many(target, ids, repo_root, jobs, timeout, trust, executor or Executor()))
    sources.context.reproductions = outcomes
    extra = []
    for run_id in chosen:
        run = by_id.get(run_id) or sources.get_run(run_id)
        if run is not None:
            extra.extend(f for f in auditor.audit_run(run) if f.code in REPRODUCTION_CODES)

    def fetch(run_id: str) -> RunRecord | None:
        return by_id.get(run_id) or sources.get_run(run_id)

    kept = [f for f in findings if f.code not in auditor.model_codes]
    return sort_findings([*kept, *extra, *auditor.audit_models(versions, fetch)])


def reproduce_root(cwd: Path, settings: Settings, repo: Path | None, recorded: Callable[[], RunRecord | None]) -> Path:
    """The repository ``mlrepro reproduce`` re-executes a run from: ``repo`` when given; else
    the one around ``cwd``, unless the run's recorded repository URL (``recorded()`` reads the
    run, only when there is a mapping) is not one of its remotes and ``[tool.mlrepro.repos]``
    maps it to a clone elsewhere. Raises ReproduceError when there is none."""
    from mlrepro.reproduce.engine import ReproduceError
    from mlrepro.run_commit import recorded_repo_url, repo_key
    from mlrepro.sources.git_repo import GitRepo, find_work_tree

    if repo is not None:
        if not (repo.resolve() / ".git").exists():
            raise ReproduceError(f"{repo}: not a git repository (pass --repo)")
        return repo.resolve()
    current = find_work_tree(cwd)
    mapping = repo_paths(settings)
    run = recorded() if mapping else None
    url = recorded_repo_url(run.tags) if run is not None else None
    if url is not None:
        key = repo_key(url)
        mapped = next(((written, path) for written, path in mapping if repo_key(written) == key), None)
        if mapped is not None and (current is None or key not in {repo_key(u) for u in GitRepo.open(current).remote_urls()}):
            written, path = mapped
            if not (path / ".git").exists():
                from mlrepro.config_schema import show_key

                raise ReproduceError(f"{settings.config_path}: [tool.mlrepro.repos] {show_key(written)} = {path}: not a git repository")
            return path
    if current is None:
        raise ReproduceError(f"{cwd}: not a git repository (pass --repo, or map the run's repository URL in [tool.mlrepro.repos])")
    return current


def promote(
    cwd: Path,
    model: str,
    version: str,
    to: str,
    *,
    tracking_uri: str | None = None,
    repo: Path | None = None,
    reproduce: bool = False,
    must_beat: Sequence[str] = (),
    archive_previous: bool = False,
    dry_run: bool = False,
    tolerance: Tolerance | None = None,
    per_metric: dict[str, Tolerance] | None = None,
    timeout: float = 3600.0,
    config: Path | None = None,
    isolated: bool = False,
    promoted_by: str | None = None,
    trust: Trust | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
) -> PromotionResult:
    """The deployment gate: audit model version ``version``'s source run (error-level findings
    block), optionally compare its metrics with the version holding ``to`` (``must_beat``
    specs, else ``[tool.mlrepro.promote] must-beat``) and re-execute it (``reproduce``); when
    every gate passes, set the alias or move the stage and tag the version with the trail.
    ``dry_run``: judge, change nothing. Raises PromoteError (and the adapters' errors) for
    input that cannot be judged."""
    from mlrepro.audit.engine import Auditor
    from mlrepro.audit.policy import load_policy
    from mlrepro.audit.sources import open_sources
    from mlrepro.audit.team_rules import load_team_rules
    from mlrepro.promote.gate import PromotionRequest, run_gate
    from mlrepro.promote.settings import load_promote_policy
    from mlrepro.promote.threshold import MetricThreshold
    from mlrepro.reproduce.compare import Tolerance
    from mlrepro.reproduce.executors import Executor, resolve_executor

    settings = resolve_settings(cwd, config, isolated=isolated)
    policy = load_policy(settings)
    promote_policy = load_promote_policy(settings)
    thresholds = tuple(MetricThreshold.parse(spec) for spec in must_beat) if must_beat else promote_policy.must_beat
    sources = open_sources(cwd, settings, policy, tracking_uri, repo, artifacts=True, writable=not dry_run)
    auditor = Auditor(settings, sources.context, load_team_rules(policy.rules_dir))
    request = PromotionRequest(
        model=model, version=version, to=to, reproduce=reproduce, must_beat=thresholds,
        archive_previous=archive_previous, dry_run=dry_run, tolerance=tolerance or Tolerance(),
        per_metric=per_metric or {}, timeout=timeout,
        repo_root=sources.context.repo.root if sources.context.repo is not None else None,
        promoted_by=promoted_by, trust=trust,
        executor=resolve_executor(settings.section("reproduce"), executor, ray_address) if reproduce else Executor(),
    )
    return run_gate(sources.store, auditor, sources.get_run, request)


def _fill_details(details: AuditDetails, sources: AuditSources, runs: Sequence[RunRecord], versions: Sequence[ModelVersionRecord]) -> None:
    from mlrepro.sources.mlflow_store import redact

    shown = [redact(sources.store.uri)] if sources.store is not None else []
    if sources.wandb is not None:
        shown.append(f"W&B: {len(sources.wandb.run_dirs)} run directories")
    details.tracking_uri = " + ".join(shown)
    details.runs = list(runs)
    details.versions = list(versions)
    details.reproductions = dict(sources.context.reproductions)
    repo = sources.context.repo
    if repo is not None:
        details.repo_root = repo.root
        # GitRepo.resolve; a repository without commits has no HEAD to show.
        details.repo_commit = repo.resolve("HEAD") if hasattr(repo, "resolve") else None


def nightly_report(
    cwd: Path,
    output: Path,
    tracking_uri: str | None = None,
    repo: Path | None = None,
    history: Path | None = None,
    reproduce: bool = False,
    max_reproductions: int | None = None,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    config: Path | None = None,
    now: datetime | None = None,
    jobs: int = 1,
    timeout: float = 3600.0,
    trust: Trust | None = None,
    artifacts: bool = True,
    other_repos: Sequence[Path] = (),
    executor: str | None = None,
    ray_address: str | None = None,
) -> NightlyReport:
    """The nightly job: audit (and with ``reproduce``, re-execute the audit's candidates), save
    the night's result as JSON in ``history`` (one file per date; the same night again replaces
    its file), and write one self-contained HTML page to ``output`` with trends over the nights
    in ``history``; ``json_path`` and ``junit_path`` get the audit in those formats too.
    ``jobs``, ``timeout`` and ``trust`` as for ``audit_report``'s reproductions; ``artifacts``
    and ``other_repos`` as for ``audit_report``."""
    from mlrepro.formatters import render
    from mlrepro.formatters.html_format import render_page, require_jinja2
    from mlrepro.nightly.history import read_history, save_night
    from mlrepro.nightly.model import AuditDetails, NightlyReport
    from mlrepro.nightly.snapshot import build_night, page_context

    require_jinja2()
    details = AuditDetails()
    report = audit_report(
        cwd, tracking_uri, repo=repo, artifacts=artifacts, config=config, reproduce=reproduce, max_reproductions=max_reproductions,
        jobs=jobs, timeout=timeout, details=details, trust=trust, other_repos=other_repos, executor=executor, ray_address=ray_address,
    )
    moment = now or datetime.now(timezone.utc)
    settings = resolve_settings(cwd, config)
    night = build_night(report, details, moment, settings)
    previous, skipped = read_history(history, before=night["date"]) if history is not None else ([], [])
    if history is not None:
        save_night(history, night)
    html = render_page(page_context(night, previous, skipped))
    for path, text in ((output, html), (json_path, render("json", report) if json_path else None), (junit_path, render("junit", report) if junit_path else None)):
        if path is not None and text is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return NightlyReport(report=report, html_path=output, summary=night["summary"], night=night, skipped_history=tuple(skipped))


def demo(directory: Path, progress: Callable[[str], None] | None = None) -> DemoResult:
    """``mlrepro demo``: build a small team project in ``directory`` (new, empty, or a previous
    demo, which is replaced), train its runs for real into a SQLite MLflow store with the classic
    mistakes, then lint, audit, reproduce a good and an unseeded run (verdicts recorded on them)
    and write ``report.html`` there. ``progress`` receives one line per step."""
    from mlrepro.demo.scenario import build_demo

    return build_demo(directory, progress)
