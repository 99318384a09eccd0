"""The audit engine: run records and model versions in, findings out. Never prints.

Per-run checks see one ``RunRecord``; group checks see every audited run; registry checks
see the model versions with the verdict of each source run (fetched on demand when the run
is outside the audited experiments or time window).

Runs that ``mlrepro reproduce`` created (tagged ``mlrepro.reproduces``) are evidence about
another run, not results of their own: they are not audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path

from mlrepro import tags as tag_names
from mlrepro.audit.checks import MODEL, RUN, RUNS
from mlrepro.audit.context import AuditContext, OtherRepository
from mlrepro.config import Settings
from mlrepro.findings import Finding, RunRef, Severity, sort_findings
from mlrepro.records import ModelVersionRecord, RunRecord
from mlrepro.registry import Rule, bind, enabled_codes, rules_for
from mlrepro.run_commit import recorded_repo_url, repo_key
from mlrepro.selection import SelectionLayer


@dataclass(frozen=True)
class AuditResult:
    findings: list[Finding]
    runs: int
    versions: int
    checked: tuple[str, ...] = ()
    # recorded repo URL -> ids of the runs that came from that other repository
    foreign: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Verdict:
    """What the audit says of one run, for the registry checks."""

    run_id: str
    found: bool  # False: the version's run_id does not resolve to a run
    errors: list[Finding] = field(default_factory=list)


@functools.lru_cache(maxsize=1024)
def _source_file(name: str, root: Path) -> str | None:
    path = Path(name)
    candidate = path if path.is_absolute() else root / path
    try:
        relative = candidate.resolve().relative_to(root)
    except (ValueError, OSError):
        return None
    return relative.as_posix() if (root / relative).is_file() else None


def source_file(run: RunRecord, ctx: AuditContext) -> str | None:
    """The run's source file relative to the repository root, if it is a file in there
    (cached: thousands of runs share a handful of entry points)."""
    name = (run.source_name or "").split("#", 1)[0]
    if not name or ctx.repo is None or "://" in name:
        return None
    return _source_file(name, ctx.repo.root)


def run_ref(run: RunRecord, ctx: AuditContext | None = None) -> RunRef:
    return RunRef(
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        source=run.source,
        run_name=run.run_name,
        experiment_name=run.experiment_name,
        start_time=run.start_time.isoformat(timespec="seconds") if run.start_time else None,
        source_file=source_file(run, ctx) if ctx is not None else None,
        run_dir=run.location,
    )


# What a run is matched to: the audited repository, another one, or none audited (foreign).
_OWN = "own"


class Auditor:
    def __init__(
        self, settings: Settings, ctx: AuditContext, extra_rules: Sequence[tuple[Rule, Callable[..., object]]] = (),
        other_repos: Sequence[OtherRepository] = (), own_urls: Sequence[str] = (),
    ) -> None:
        """``other_repos``: more repositories whose runs the store holds; a run whose recorded
        repo URL names one of them is checked against that one. ``own_urls``: repo URLs the
        configuration maps to the audited repository itself, besides its remotes."""
        self.ctx = ctx
        self._own_urls = frozenset(repo_key(u) for u in own_urls)
        self._own_keys: frozenset[str] | None = None  # the audited repository's remotes and own_urls, as repo_key spells them
        self._others = [(frozenset(repo_key(u) for u in (*other.repo.remote_urls(), *other.urls)), other) for other in other_repos]
        rules = {rule.code: rule for rule in rules_for("run")}
        checks = {code: bind(rule) for code, rule in rules.items()}
        for rule, check in extra_rules:  # team rules from `rules-dir`
            rules[rule.code] = rule
            checks[rule.code] = check
        self.rules = rules
        team = [r.code for r, _ in extra_rules]
        self.enabled = enabled_codes(settings, rules, extra_known=team)
        self._by_scope: dict[str, list[tuple[Rule, Callable[..., Iterable[object]]]]] = {RUN: [], RUNS: [], MODEL: []}
        for code in sorted(self.enabled):
            check = checks[code]
            self._by_scope[getattr(check, "scope", RUN)].append((rules[code], check))  # type: ignore[arg-type]
        # Whether a served model's run "passes the audit" is the team's policy (the config
        # file), not what this command line selects: `--select MLR801` must still judge runs.
        policy_codes = enabled_codes(dataclasses.replace(settings, cli_layer=SelectionLayer()), rules, extra_known=team)
        self._verdict_checks = [
            (rules[code], checks[code]) for code in sorted(policy_codes) if getattr(checks[code], "scope", RUN) == RUN
        ]

    def _finding(self, rule: Rule, message: str, ref: RunRef) -> Finding:
        return Finding(code=rule.code, name=rule.name, message=message, severity=rule.severity, fix=rule.fix, url=rule.url, run=ref)

    def _own_remote_keys(self) -> frozenset[str]:
        if self._own_keys is None:
            repo = self.ctx.repo
            self._own_keys = frozenset(repo_key(u) for u in repo.remote_urls()) | self._own_urls if repo is not None else frozenset()
        return self._own_keys

    def _match(self, run: RunRecord) -> OtherRepository | str | None:
        """``_OWN``, the other repository the run's recorded repo URL names, or None: a
        repository not audited. A run that records no URL is the audited repository's, and so
        is every run when that one has no remote and nothing else is audited to tell them apart."""
        url = recorded_repo_url(run.tags)
        if url is None:
            return _OWN
        key = repo_key(url)
        if self.ctx.repo is not None and key in self._own_remote_keys():
            return _OWN
        other = next((other for keys, other in self._others if key in keys), None)
        if other is not None:
            return other
        if self.ctx.repo is None:
            # Outside any repository the checks that need one stay quiet, unless other
            # repositories are audited: then this run's is simply not among them.
            return None if self._others else _OWN
        return _OWN if not self._own_remote_keys() else None

    def foreign_url(self, run: RunRecord) -> str | None:
        """The recorded repo URL when it names a repository that is not audited (neither
        ``--repo`` nor ``[tool.mlrepro.repos]``)."""
        return recorded_repo_url(run.tags) if self._match(run) is None else None

    def repo_root_for(self, run: RunRecord) -> Path | None:
        """Where the run's code is re-executed from: its own repository's root."""
        repo = self._ctx_for(run).repo
        return repo.root if repo is not None else None

    @property
    def roots(self) -> tuple[Path, ...]:
        """Every repository audited, the audited one first."""
        own = (self.ctx.repo.root,) if self.ctx.repo is not None else ()
        return own + tuple(other.repo.root for _, other in self._others)

    def _ctx_for(self, run: RunRecord) -> AuditContext:
        # A run of a repository not audited is checked as if no repository were known: its
        # commit cannot be in this one, and saying so (MLR502) would blame the wrong repository.
        match = self._match(run)
        if match == _OWN:
            return self.ctx
        if isinstance(match, OtherRepository):
            return dataclasses.replace(self.ctx, repo=match.repo, data=match.data)
        return dataclasses.replace(self.ctx, repo=None, data=None)

    def audit_run(self, run: RunRecord) -> list[Finding]:
        ctx = self._ctx_for(run)
        ref = run_ref(run, ctx)
        return [self._finding(rule, message, ref) for rule, check in self._by_scope[RUN] for message in check(run, ctx)]  # type: ignore[misc]

    def _verdict(self, run: RunRecord | None, run_id: str) -> Verdict:
        if run is None or run.deleted:
            return Verdict(run_id, False)
        ctx = self._ctx_for(run)
        ref = run_ref(run, ctx)
        errors = [
            self._finding(rule, message, ref)
            for rule, check in self._verdict_checks
            if rule.severity is Severity.ERROR
            for message in check(run, ctx)  # type: ignore[operator]
        ]
        return Verdict(run_id, True, errors)

    def audit(
        self,
        runs: Iterable[RunRecord],
        versions: Sequence[ModelVersionRecord] = (),
        fetch_run: Callable[[str], RunRecord | None] | None = None,
    ) -> AuditResult:
        findings: list[Finding] = []
        seen: list[RunRecord] = []
        verdicts: dict[str, Verdict] = {}
        # Every audited run is kept for the group checks anyway: read them all first, so that a
        # parent (which starts before its children) is known as one when it is judged.
        runs = [run for run in runs if tag_names.REPRODUCES not in run.tags]
        self.ctx.parent_run_ids = frozenset(run.tags[tag_names.MLFLOW_PARENT] for run in runs if run.tags.get(tag_names.MLFLOW_PARENT))
        judged = {v.run_id for v in versions if v.in_use and v.run_id} if self._by_scope[MODEL] else set()
        foreign: dict[str, list[str]] = {}
        for run in runs:
            seen.append(run)
            url = self.foreign_url(run)
            if url is not None:
                foreign.setdefault(url, []).append(run.run_id)
            findings.extend(self.audit_run(run))
            if run.run_id in judged:
                verdicts[run.run_id] = self._verdict(run, run.run_id)
        for rule, check in self._by_scope[RUNS]:
            for run, message in check(seen, self.ctx):  # type: ignore[misc]
                findings.append(self._finding(rule, message, run_ref(run, self.ctx)))
        findings.extend(self.audit_models(versions, fetch_run, verdicts))
        checked = tuple(run.label for run in seen) + tuple(v.label for v in versions)
        return AuditResult(sort_findings(findings), len(seen), len(versions), checked, foreign)

    @property
    def model_codes(self) -> frozenset[str]:
        return frozenset(rule.code for rule, _ in self._by_scope[MODEL])

    def audit_models(
        self,
        versions: Sequence[ModelVersionRecord],
        fetch_run: Callable[[str], RunRecord | None] | None = None,
        verdicts: dict[str, Verdict] | None = None,
    ) -> list[Finding]:
        """The registry checks. ``verdicts`` holds the source runs already judged; the others
        are fetched. Called again after ``audit --reproduce``, so that a served model whose run
        did not come back is judged with that verdict."""
        if not versions or not self._by_scope[MODEL]:
            return []
        verdicts = {} if verdicts is None else verdicts
        for version in versions:
            if version.in_use and version.run_id and version.run_id not in verdicts:
                run = fetch_run(version.run_id) if fetch_run else None
                verdicts[version.run_id] = self._verdict(run, version.run_id)
        findings = []
        for rule, check in self._by_scope[MODEL]:
            for version, message in check(versions, self.ctx, verdicts):  # type: ignore[misc]
                ref = RunRef(run_id=version.run_id, model=f"{version.name}/{version.version}", source="mlflow")
                findings.append(self._finding(rule, message, ref))
        return findings
