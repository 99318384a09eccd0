"""Artifacts and models (MLR7xx): what a run leaves behind, and whether it was judged."""

from __future__ import annotations

from collections.abc import Iterator

from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext
from mlrepro.records import Artifact, RunRecord

_MB = 1024 * 1024  # limits are in MiB, as `du -m` and most storage consoles count


def _mb(size_bytes: int) -> str:
    mb = size_bytes / _MB
    if mb >= 100:
        return f"{mb:.0f} MB"
    if mb >= 1:
        return f"{mb:.1f} MB"
    return f"{mb:.3g} MB"  # small limits (tests, strict teams) still print a non-zero size


def _where(artifact: Artifact) -> str:
    return f"logged model {artifact.model_id} file {artifact.path}" if artifact.model_id else f"artifact {artifact.path}"


@run_check
def oversized_artifact(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR704: one file (run artifact or logged-model file) over ``max-artifact-mb``."""
    if run.artifacts is None:
        return
    limit = ctx.policy.max_artifact_mb * _MB
    for artifact in run.artifacts:
        if artifact.size_bytes is not None and artifact.size_bytes > limit:
            yield (
                f"{_where(artifact)} is {_mb(artifact.size_bytes)}, over the {ctx.policy.max_artifact_mb:g} MB limit "
                "(`max-artifact-mb`): data or checkpoints stored as artifacts bloat the store and are not versioned"
            )


@run_check
def oversized_run_artifacts(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR705: all of a run's files together over ``max-run-artifacts-mb``."""
    if not run.artifacts:
        return
    sized = [a for a in run.artifacts if a.size_bytes is not None]
    total = sum(a.size_bytes or 0 for a in sized)
    if total > ctx.policy.max_run_artifacts_mb * _MB:
        largest = max(sized, key=lambda a: a.size_bytes or 0)
        yield (
            f"artifacts total {_mb(total)} in {len(sized)} file{'s' if len(sized) != 1 else ''}, over the "
            f"{ctx.policy.max_run_artifacts_mb:g} MB per-run limit (`max-run-artifacts-mb`); "
            f"largest: {_where(largest)} ({_mb(largest.size_bytes or 0)})"
        )


@run_check
def ungated_model(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR706: a model was logged but no metric was: nothing could have gated it."""
    if run.logged_model and not run.metrics:
        yield "logged a model but no metrics: nothing shows it was evaluated before it could be registered or deployed"
