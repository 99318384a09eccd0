"""Model registry (MLR8xx): versions that serving code loads, judged by the runs behind them.

A registry version is only as reproducible as the run that produced it, and only versions
that something can load (a live stage or an alias) matter: an archived or unaliased version
is history, not a liability.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from mlrepro.audit.checks import model_check
from mlrepro.audit.context import AuditContext
from mlrepro.promote import trail
from mlrepro.records import ModelVersionRecord

if TYPE_CHECKING:  # the engine imports the checks' package: no import cycle at run time
    from mlrepro.audit.engine import Verdict

PRODUCTION = "Production"


def _served_by(version: ModelVersionRecord) -> str:
    """How serving code reaches this version: ``stage Production``, ``alias @champion``, ..."""
    parts = []
    if version.stage in ("Production", "Staging"):
        parts.append(f"stage {version.stage}")
    if version.aliases:
        label = "alias" if len(version.aliases) == 1 else "aliases"
        parts.append(f"{label} " + ", ".join(f"@{alias}" for alias in version.aliases))
    return " and ".join(parts)


def _version_key(version: ModelVersionRecord) -> tuple[int, str]:
    # Registry versions are numbers kept as strings ("10" must sort after "9").
    return (int(version.version), version.version) if version.version.isdigit() else (-1, version.version)


@model_check
def unreproducible_model_in_use(
    versions: Sequence[ModelVersionRecord], ctx: AuditContext, verdicts: Mapping[str, Verdict]
) -> Iterator[tuple[ModelVersionRecord, str]]:
    """MLR801: a version that is served comes from a run with error-level findings."""
    for version in versions:
        if not version.in_use or not version.run_id:
            continue
        verdict = verdicts.get(version.run_id)
        if verdict is None or not verdict.found or not verdict.errors:
            continue  # unresolvable runs are MLR802's
        codes = sorted({finding.code for finding in verdict.errors})
        yield version, (
            f"served as {_served_by(version)}, but its source run {version.run_id} fails "
            f"{', '.join(codes)}: the model in use cannot be rebuilt from what was recorded"
        )


@model_check
def model_version_without_run(
    versions: Sequence[ModelVersionRecord], ctx: AuditContext, verdicts: Mapping[str, Verdict]
) -> Iterator[tuple[ModelVersionRecord, str]]:
    """MLR802: a version that is served cannot be traced to a run at all."""
    for version in versions:
        if not version.in_use:
            continue
        if not version.run_id:
            yield version, (
                f"served as {_served_by(version)} but records no source run: "
                "nothing says which code, data and parameters produced it"
            )
            continue
        verdict = verdicts.get(version.run_id)
        if verdict is not None and not verdict.found:
            yield version, (
                f"served as {_served_by(version)} but its source run {version.run_id} does not exist "
                "in the tracking store: the code, data and parameters behind it are lost"
            )


@model_check
def multiple_production_versions(
    versions: Sequence[ModelVersionRecord], ctx: AuditContext, verdicts: Mapping[str, Verdict]
) -> Iterator[tuple[ModelVersionRecord, str]]:
    """MLR803: one model has several versions in stage Production.

    Reported once per model, on the version ``models:/<name>/Production`` resolves to (the
    highest): one defect, one finding, however many stale versions were left behind."""
    by_model: dict[str, list[ModelVersionRecord]] = {}
    for version in versions:
        if version.stage == PRODUCTION:
            by_model.setdefault(version.name, []).append(version)
    for name in sorted(by_model):
        live = sorted(by_model[name], key=_version_key)
        if len(live) < 2:
            continue
        loaded = live[-1]
        yield loaded, (
            f"{len(live)} versions of model {name!r} are in stage Production ({', '.join(v.version for v in live)}): "
            f"models:/{name}/Production loads version {loaded.version}, so which one serves depends on how each "
            "client loads it; archive the others"
        )


@model_check
def promotion_without_gate_trail(
    versions: Sequence[ModelVersionRecord], ctx: AuditContext, verdicts: Mapping[str, Verdict]
) -> Iterator[tuple[ModelVersionRecord, str]]:
    """MLR804: a version serves as stage Production or a guarded alias, but `mlrepro promote`
    never put it there: the trail tags are missing, or name other targets."""
    guarded = set(ctx.policy.guarded_aliases)
    for version in versions:
        uses = [trail.stage_use(PRODUCTION)] if version.stage == PRODUCTION else []
        uses.extend(trail.alias_use(alias) for alias in version.aliases if alias in guarded)
        if not uses:
            continue
        shown = " and ".join(f"stage {PRODUCTION}" if use == trail.stage_use(PRODUCTION) else f"alias {use}" for use in uses)
        missing = [tag for tag in trail.REQUIRED if not version.tags.get(tag)]
        if missing:
            yield version, (
                f"serves as {shown} without the promotion trail ({', '.join(missing)} missing): it was promoted "
                "around `mlrepro promote`, so no audit or reproduction vouched for it"
            )
            continue
        gated = trail.uses(version.tags.get(trail.PROMOTED_TO))
        ungated = [use for use in uses if gated and use not in gated]
        if ungated:
            yield version, (
                f"serves as {shown}, but the gate promoted it to {', '.join(sorted(gated))} only: "
                f"{', '.join(ungated)} was set by hand"
            )
