"""The gate itself: audit the version's source run, optionally compare it with the version
holding the target and re-execute it, and move it forward only when every gate passed.
Never prints; the CLI renders the result.

A failing gate changes nothing in the registry. ``--reproduce`` is the one gate that writes:
its re-execution logs a new run into the tracking store, as ``mlrepro reproduce`` does, so it
runs last, after the read-only gates passed, and never on a dry run.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mlrepro.findings import Finding, Severity, sort_findings
from mlrepro.promote import trail
from mlrepro.promote.threshold import MetricCheck, MetricThreshold, check
from mlrepro.records import ModelVersionRecord, RunRecord
from mlrepro.reproduce.compare import Tolerance
from mlrepro.reproduce.executors import Executor
from mlrepro.reproduce.trust import Trust

if TYPE_CHECKING:
    from mlrepro.audit.engine import Auditor
    from mlrepro.sources.mlflow_store import MlflowStore

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# What MLflow accepts as an alias (mlflow.utils.validation): word characters and dashes, at
# most 255 of them, neither `latest` nor a version's own alias (`v3`), which it reserves.
# Checked here so that a refused name is refused before anything is written.
_ALIAS = re.compile(r"[\w-]{1,255}")
_VERSION_ALIAS = re.compile(r"[vV]\d+")
# A version in use without the trail is what MLR804 reports; promoting it through the gate
# is how that finding is fixed, so it cannot also block the promotion.
_NOT_BLOCKING = frozenset({"MLR804"})


class PromoteError(Exception):
    """The promotion cannot even be judged (unknown model or version, no source run): unusable input."""


@dataclass(frozen=True)
class Target:
    kind: str  # "stage" or "alias"
    name: str  # "Production", "Staging" or the alias

    @property
    def use(self) -> str:
        return trail.stage_use(self.name) if self.kind == "stage" else trail.alias_use(self.name)

    @property
    def label(self) -> str:
        return f"stage {self.name}" if self.kind == "stage" else f"alias @{self.name}"


def resolve_target(to: str, stages_supported: bool) -> Target:
    """``production``/``staging`` (any case) name the legacy stages where the registry still has
    them, else the alias of that (lower-case) name; anything else is an alias."""
    value = to.strip()
    value = value.removeprefix("@")
    if not value or any(c.isspace() for c in value) or ":" in value or "/" in value:
        raise PromoteError(f"--to {to!r}: expected production, staging or an alias name")
    stage = next((s for s in trail.STAGES if s.lower() == value.lower()), None)
    if stage is not None and not to.strip().startswith("@"):
        return Target("stage", stage) if stages_supported else Target("alias", stage.lower())
    if _VERSION_ALIAS.fullmatch(value) or value.lower() == "latest":
        raise PromoteError(f"--to {to!r}: MLflow reserves that name (`latest` and `v<number>` name versions, not aliases)")
    if not _ALIAS.fullmatch(value):
        raise PromoteError(f"--to {to!r}: an alias is at most 255 letters, digits, underscores and dashes")
    return Target("alias", value)


@dataclass(frozen=True)
class PromotionRequest:
    model: str
    version: str
    to: str
    reproduce: bool = False
    must_beat: tuple[MetricThreshold, ...] = ()
    archive_previous: bool = False
    dry_run: bool = False
    tolerance: Tolerance = field(default_factory=Tolerance)
    per_metric: Mapping[str, Tolerance] = field(default_factory=dict)
    timeout: float = 3600.0
    repo_root: Path | None = None  # needed by --reproduce only
    promoted_by: str | None = None  # default: $MLREPRO_PROMOTED_BY, $GITHUB_ACTOR, the login name
    trust: Trust | None = None  # --allow-command / --apply-diff for the re-execution (default: neither)
    executor: Executor = field(default_factory=Executor)  # where the re-execution runs (--executor)


@dataclass
class GateOutcome:
    name: str  # audit | must-beat | reproduce
    status: str  # passed | failed | skipped
    details: list[str] = field(default_factory=list)


@dataclass
class PromotionResult:
    model: str
    version: str
    run_id: str
    target: Target
    previous: str | None  # the version holding the target before (the highest, for a stage)
    gates: list[GateOutcome]
    findings: list[Finding]  # everything the audit said of the run and the version
    blocking: list[Finding]
    metric_checks: list[MetricCheck]
    reproduction_verdict: str | None = None
    reproduction_run_ids: tuple[str, ...] = ()
    audit_digest: str = ""
    actions: list[str] = field(default_factory=list)  # what was done, or would be on a dry run
    tags: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    applied: bool = False

    @property
    def passed(self) -> bool:
        return all(gate.status != FAILED for gate in self.gates)


def promoted_by(explicit: str | None = None) -> str:
    """Who promotes: an explicit name, the CI actor, else the login name."""
    if explicit:
        return explicit
    for variable in ("MLREPRO_PROMOTED_BY", "GITHUB_ACTOR", "GITLAB_USER_LOGIN"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"


def _version_key(version: ModelVersionRecord) -> int:
    return int(version.version) if version.version.isdigit() else -1


def holder(versions: Sequence[ModelVersionRecord], target: Target) -> ModelVersionRecord | None:
    """The version serving code loads through the target now (``models:/name/Production`` loads
    the highest Production version)."""
    if target.kind == "alias":
        return next((v for v in versions if target.name in v.aliases), None)
    held = [v for v in versions if v.stage == target.name]
    return max(held, key=_version_key) if held else None


def audit_digest(findings: Sequence[Finding]) -> str:
    """sha256 of the audit result as `mlrepro audit --output-format json` prints it."""
    from mlrepro.formatters import Report, render

    return hashlib.sha256(render("json", Report(findings=list(findings), command="audit")).encode("utf-8")).hexdigest()


def run_gate(
    store: MlflowStore,
    auditor: Auditor,
    fetch_run: Callable[[str], RunRecord | None],
    request: PromotionRequest,
) -> PromotionResult:
    versions = store.model_versions(request.model)
    if versions is None:
        raise PromoteError(f"no registered model {request.model!r} in {_redacted(store.uri)}")
    version = next((v for v in versions if v.version == str(request.version).strip()), None)
    if version is None:
        known = ", ".join(v.version for v in sorted(versions, key=_version_key)) or "none"
        raise PromoteError(f"model {request.model!r} has no version {request.version!r} (versions: {known})")
    if not version.run_id:
        raise PromoteError(f"{version.label} records no source run: there is nothing to audit (register it with run_id=...)")
    run = fetch_run(version.run_id)
    if run is None or run.deleted:
        raise PromoteError(f"{version.label}: its source run {version.run_id} is not in the tracking store")
    target = resolve_target(request.to, store.supports_stages())
    if request.archive_previous and target.kind != "stage":
        raise PromoteError(f"--archive-previous moves the previous {target.label} holder to stage Archived; an alias points at one version already")
    previous = holder(versions, target)

    result = PromotionResult(
        model=version.name, version=version.version, run_id=run.run_id, target=target,
        previous=previous.version if previous else None, gates=[], findings=[], blocking=[], metric_checks=[],
        dry_run=request.dry_run,
    )
    _audit(result, auditor, run, version, fetch_run)
    if request.must_beat:
        _must_beat(result, request.must_beat, run, previous, fetch_run)
    if request.reproduce:
        _reproduce(result, store, request)
    result.tags = _trail_tags(result, version, request)
    result.actions = _actions(result, versions, request)
    if result.passed and not request.dry_run:
        # The move first, the trail once it is done: a trail left by a refused move would
        # claim a promotion that never happened (and MLR804 would trust it later).
        if target.kind == "stage":
            store.transition_stage(version.name, version.version, target.name, request.archive_previous)
        else:
            store.set_model_alias(version.name, target.name, version.version)
        from mlrepro.sources.mlflow_store import TrackingStoreError

        try:
            store.set_model_version_tags(version.name, version.version, result.tags)
        except TrackingStoreError as exc:
            raise PromoteError(f"{version.label} now holds {target.label}, but its trail could not be written ({exc}): promote it again to write the trail") from None
        result.applied = True
    return result


def _audit(result: PromotionResult, auditor: Auditor, run: RunRecord, version: ModelVersionRecord, fetch_run: Callable[[str], RunRecord | None]) -> None:
    # audit_run, not audit(): the engine skips reproduction runs in a store-wide audit, but a
    # version registered from one is still judged here.
    findings = sort_findings([*auditor.audit_run(run), *auditor.audit_models([version], fetch_run)])
    result.findings = findings
    result.blocking = [f for f in findings if f.severity is Severity.ERROR and f.code not in _NOT_BLOCKING]
    result.audit_digest = audit_digest(findings)
    others = len(findings) - len(result.blocking)
    details = [f"{len(result.blocking)} error-level finding(s), {others} other finding(s) on run {run.run_id}"]
    result.gates.append(GateOutcome("audit", FAILED if result.blocking else PASSED, details))


def _must_beat(
    result: PromotionResult,
    thresholds: Sequence[MetricThreshold],
    run: RunRecord,
    previous: ModelVersionRecord | None,
    fetch_run: Callable[[str], RunRecord | None],
) -> None:
    if previous is None:
        result.gates.append(GateOutcome("must-beat", PASSED, [f"no version holds {result.target.label} yet: nothing to beat"]))
        return
    if previous.version == result.version:
        result.gates.append(GateOutcome("must-beat", PASSED, [f"v{previous.version} already holds {result.target.label}: nothing to beat"]))
        return
    baseline_run = fetch_run(previous.run_id) if previous.run_id else None
    label = f"v{previous.version} ({result.target.label})"
    baseline = dict(baseline_run.metrics) if baseline_run is not None else {}
    result.metric_checks = [check(t, run.metrics, baseline, label) for t in thresholds]
    details = [c.reason for c in result.metric_checks]
    if baseline_run is None:
        details.insert(0, f"{label} has no source run in the tracking store: its metrics are unknown")
    passed = all(c.passed for c in result.metric_checks)
    result.gates.append(GateOutcome("must-beat", PASSED if passed else FAILED, details))


def _reproduce(result: PromotionResult, store: MlflowStore, request: PromotionRequest) -> None:
    if not result.passed:
        result.gates.append(GateOutcome("reproduce", SKIPPED, ["not run: an earlier gate failed"]))
        return
    if request.dry_run:
        result.gates.append(GateOutcome("reproduce", SKIPPED, ["not run on a dry run: it logs a new run into the tracking store"]))
        return
    if request.repo_root is None:
        raise PromoteError("--reproduce needs the run's git repository: run inside it or pass --repo")
    from mlrepro.reproduce.executors import reproduce_one

    reproduced = reproduce_one(
        request.executor, store, result.run_id, request.repo_root, timeout=request.timeout, repeats=1,
        tolerance=request.tolerance, per_metric=dict(request.per_metric), trust=request.trust or Trust(),
    )
    result.reproduction_verdict = reproduced.verdict
    result.reproduction_run_ids = tuple(a.run_id for a in reproduced.attempts)
    details = [f"{reproduced.verdict} (reproduction run {', '.join(result.reproduction_run_ids) or '-'})"]
    for metric in reproduced.comparison.metrics if reproduced.comparison else ():
        if not metric.within_tolerance:
            details.append(f"{metric.name}: {metric.original} -> {metric.reproduced} {metric.outcome}")
    details.extend(reproduced.notes[:5])
    result.gates.append(GateOutcome("reproduce", PASSED if reproduced.reproduced else FAILED, details))


def _trail_tags(result: PromotionResult, version: ModelVersionRecord, request: PromotionRequest) -> dict[str, str]:
    ran = [g.name for g in result.gates if g.status != SKIPPED]
    tags = {
        trail.PROMOTED_BY: promoted_by(request.promoted_by),
        trail.PROMOTED_AT: datetime.now(timezone.utc).isoformat(timespec="seconds"),
        trail.GATE: ",".join(ran),
        trail.AUDIT_DIGEST: result.audit_digest,
        trail.PROMOTED_TO: ",".join(sorted(trail.uses(version.tags.get(trail.PROMOTED_TO)) | {result.target.use})),
    }
    if result.reproduction_verdict is not None:
        tags[trail.REPRODUCED] = f"{result.reproduction_verdict} {','.join(result.reproduction_run_ids)}".strip()
    return tags


def _actions(result: PromotionResult, versions: Sequence[ModelVersionRecord], request: PromotionRequest) -> list[str]:
    target = result.target
    if target.kind == "alias":
        moved = f" (from v{result.previous})" if result.previous and result.previous != result.version else ""
        actions = [f"set alias @{target.name} of model {result.model} to v{result.version}{moved}"]
    else:
        actions = [f"move model {result.model} v{result.version} to stage {target.name}"]
        if request.archive_previous:
            others = sorted((v for v in versions if v.stage == target.name and v.version != result.version), key=_version_key)
            actions.extend(f"archive v{v.version} (was stage {target.name})" for v in others)
    actions.append("tag v" + result.version + " " + ", ".join(f"{k}={v}" for k, v in result.tags.items()))
    return actions


def _redacted(uri: str) -> str:
    from mlrepro.sources.mlflow_store import redact

    return redact(uri)


def result_json(result: PromotionResult) -> dict[str, object]:
    from mlrepro.formatters.json_format import finding_dict

    return {
        "model": result.model,
        "version": result.version,
        "run_id": result.run_id,
        "target": {"kind": result.target.kind, "name": result.target.name},
        "previous": result.previous,
        "passed": result.passed,
        "dry_run": result.dry_run,
        "applied": result.applied,
        "gates": [{"name": g.name, "status": g.status, "details": g.details} for g in result.gates],
        "blocking_findings": [finding_dict(f) for f in result.blocking],
        "metrics": [c.as_dict() for c in result.metric_checks],
        "reproduction": (
            {"verdict": result.reproduction_verdict, "run_ids": list(result.reproduction_run_ids)}
            if result.reproduction_verdict is not None else None
        ),
        "audit_digest": result.audit_digest,
        "actions": result.actions,
        "tags": result.tags if result.passed else {},
    }


def result_text(result: PromotionResult) -> str:
    held = f", held by v{result.previous}" if result.previous else ""
    lines = [f"model {result.model} v{result.version} (run {result.run_id}) -> {result.target.label}{held}"]
    for gate in result.gates:
        lines.append(f"  {gate.name}: {gate.status}")
        lines.extend(f"    {detail}" for detail in gate.details)
    if result.blocking:
        lines.append("  blocking findings:")
        for finding in result.blocking:
            lines.append(f"    {finding.code} [{finding.name}] {finding.message}")
    if not result.passed:
        failed = [g.name for g in result.gates if g.status == FAILED]
        lines.append(f"not promoted: the {', '.join(failed)} gate{'s' if len(failed) > 1 else ''} failed; the registry is unchanged")
    elif result.dry_run:
        lines.append("dry run: every gate passed; would:")
        lines.extend(f"  {action}" for action in result.actions)
        lines.append("nothing changed")
    else:
        lines.append("promoted:")
        lines.extend(f"  {action}" for action in result.actions)
    return "\n".join(lines) + "\n"
