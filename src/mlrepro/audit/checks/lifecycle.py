"""Run lifecycle (MLR7xx): runs that died, failed, or ended with results nobody can use."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from datetime import timezone

from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext
from mlrepro.records import FAILED, KILLED, RUNNING, RunRecord


def _age(hours: float) -> str:
    return f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.0f} days"


@run_check
def stale_running_run(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR707: RUNNING long after it started: the process died without ending its run."""
    if run.status != RUNNING or run.start_time is None:
        return
    started = run.start_time if run.start_time.tzinfo else run.start_time.replace(tzinfo=timezone.utc)
    hours = (ctx.now - started).total_seconds() / 3600
    if hours > ctx.policy.stale_running_hours:
        yield (
            f"still RUNNING {_age(hours)} after it started ({started.isoformat(timespec='seconds')}): the process most "
            "likely died (killed, out of memory) and its metrics and artifacts may be incomplete"
        )


@run_check
def failed_run(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR708: FAILED or KILLED. Low severity; such runs are never compared (MLR703)."""
    if run.status in (FAILED, KILLED):
        yield f"run ended {run.status}: its metrics and artifacts may be partial, so it is left out of run comparisons"


def _non_finite(value: float) -> str | None:
    """"nan", "inf", "-inf" or None. MLflow's SQL stores save ±inf as ±1.7976931348623157e+308
    (the largest double), so that value reads back as infinite too."""
    if math.isnan(value):
        return "nan"
    if abs(value) >= sys.float_info.max:
        return "inf" if value > 0 else "-inf"
    return None


@run_check
def non_finite_metric(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR710: a metric whose latest value is NaN or infinite."""
    bad = [f"{key} = {_non_finite(value)}" for key, value in sorted(run.metrics.items()) if _non_finite(value)]
    if bad:
        yield (
            f"metric{'s' if len(bad) > 1 else ''} with a non-finite latest value: {', '.join(bad)}; "
            "training diverged or a computation divided by zero, so the run cannot be compared or reproduced as logged"
        )
