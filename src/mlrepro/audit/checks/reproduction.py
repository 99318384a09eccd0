"""Reproduction (MLR9xx): verdicts of re-executions.

Two sources, freshest first: ``ctx.reproductions``, which ``audit --reproduce`` fills (read by
attribute: ``verdict``, ``comparison``, ``differences``, ``notes``, ``attempts``, so this
module needs nothing from the reproduce package), and the verdict that
``mlrepro reproduce --record`` left on the run as ``mlrepro.reproduced.*`` tags, which a
plain, read-only audit sees.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlrepro import tags as tag_names
from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext
from mlrepro.records import RunRecord

# Enough to point at the cause without turning one finding into a page.
_MAX_ITEMS = 3


def _ids(result: object) -> str:
    ids = [getattr(a, "run_id", "") for a in getattr(result, "attempts", None) or ()]
    return f" (reproduction run {', '.join(ids)})" if ids else ""


def _number(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _recorded(run: RunRecord, verdict: str) -> str | None:
    """The message part for a verdict recorded on the run, when it is ``verdict``."""
    if run.tags.get(tag_names.REPRODUCED_VERDICT) != verdict:
        return None
    ids = run.tags.get(tag_names.REPRODUCED_RUN_IDS, "")
    when = run.tags.get(tag_names.REPRODUCED_DATE, "")
    return f"`mlrepro reproduce --record`{' on ' + when if when else ''} recorded it" + (f" (reproduction run {ids})" if ids else "")


@run_check
def reproduction_diverged(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR901: re-executed at its commit, the run's metrics came back different."""
    result = ctx.reproductions.get(run.run_id)
    if result is None:
        if (recorded := _recorded(run, "diverged")) is not None:
            yield f"re-executed at its commit, the metrics diverged: {recorded}; run `mlrepro reproduce {run.run_id}` for the comparison"
        return
    if getattr(result, "verdict", None) != "diverged":
        return
    comparison = getattr(result, "comparison", None)
    off = [m for m in getattr(comparison, "metrics", ()) if getattr(m, "within_tolerance", True) is False]
    parts = []
    for m in off[:_MAX_ITEMS]:
        rel = f", rel diff {m.rel_diff:.3g}" if getattr(m, "rel_diff", None) is not None else ""
        parts.append(f"{m.name} {_number(m.original)} -> {_number(m.reproduced)} ({m.outcome}{rel})")
    if len(off) > _MAX_ITEMS:
        parts.append(f"{len(off) - _MAX_ITEMS} more")
    message = "re-executed at its commit, the metrics diverged" + _ids(result)
    if parts:
        message += ": " + "; ".join(parts)
    causes = list(getattr(result, "differences", None) or ())[:_MAX_ITEMS]
    if causes:
        message += "; likely causes: " + "; ".join(causes)
    yield message


# The verdict ``mlrepro reproduce`` gives when the original run has no metric to judge: the
# re-execution proved nothing, so it is a failed reproduction, never a pass.
_NOT_COMPARED = "not-compared"
# How a run refused for want of an option (reproduce/trust.py) starts its reason.
_NOT_EXECUTED = "not executed: "


@run_check
def reproduction_failed(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR902: the re-execution did not complete (non-zero exit, timeout, no metrics), could not
    be started at all (the reason, no "did not reproduce"), or left nothing to compare."""
    result = ctx.reproductions.get(run.run_id)
    if result is None:
        if (recorded := _recorded(run, "failed")) is not None:
            yield f"re-executed at its commit, the run did not reproduce: {recorded}; run `mlrepro reproduce {run.run_id}` for the log"
        elif (recorded := _recorded(run, _NOT_COMPARED)) is not None:
            yield f"re-executed at its commit, nothing was compared: {recorded}; the run logged no metric to judge a reproduction by"
        return
    verdict = getattr(result, "verdict", None)
    if verdict not in ("failed", _NOT_COMPARED):
        return
    notes = list(getattr(result, "notes", None) or ())
    attempts = getattr(result, "attempts", None) or ()
    if verdict == "failed" and not attempts:
        # Nothing ran (no commit or command recorded, checkout failed, diff did not apply, an
        # option needed): the code's reproducibility is unknown, which is not "did not reproduce".
        reason = notes[0].removeprefix(_NOT_EXECUTED) if notes else ""
        yield "could not be re-executed at its commit" + (f": {reason}" if reason else "")
        return
    reasons = [n for n in notes if not n.startswith(("PYTHONHASHSEED", "thread settings"))][:_MAX_ITEMS] or notes[:1]
    if verdict == _NOT_COMPARED:
        reasons = [n for n in reasons if "no metrics to compare" in n] or reasons
        yield "re-executed at its commit, nothing was compared" + _ids(result) + (": " + "; ".join(reasons) if reasons else "")
        return
    message = "re-executed at its commit, the run did not reproduce" + _ids(result)
    if reasons:
        message += ": " + "; ".join(reasons)
    tail = getattr(getattr(attempts[-1], "execution", None), "log_tail", "") if attempts else ""
    last = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), "")
    if last:
        message += f"; last output line: {last[:200]}"
    yield message
