"""Reproduce one tracked run: plan it, check out its code, re-execute it into a new run of
the same experiment, and compare the metrics. Never prints; the CLI renders the result.

The original run is never modified unless ``record`` is set. Where the original is read and
where re-executions log is the target's business (``reproduce/target.py``): for MLflow, a run
created beforehand, tagged ``mlrepro.reproduces=<original id>``, which the training code
resumes through ``MLFLOW_RUN_ID``; for W&B, an offline run in a fresh directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mlrepro import tags as tag_names
from mlrepro.records import RunRecord
from mlrepro.reproduce import interrupt
from mlrepro.reproduce.compare import (
    NOT_COMPARED,
    REPRODUCED_VERDICTS,
    Comparison,
    HistoryComparison,
    Tolerance,
    compare_histories,
    compare_metrics,
    explain,
    metrics_to_compare,
)
from mlrepro.reproduce.plan import ReproPlan
from mlrepro.reproduce.runner import Execution, child_env, execute
from mlrepro.reproduce.target import MlflowTarget, ReproTarget
from mlrepro.reproduce.trust import APPLY_DIFF, Trust, allowed_note, command_refusal, diff_refusal, refused_note
from mlrepro.reproduce.workspace import checkout
from mlrepro.seeds import is_seeded
from mlrepro.sources.mlflow_store import MlflowStore

# MLflow's environment manager that runs a project in this Python environment (the others,
# virtualenv, uv and conda, build one: mlflow.utils.env_manager).
LOCAL_ENV = "local"

# Environment facts the capture plugin records: a difference here is a likely cause.
_ENVIRONMENT_PREFIXES = tag_names.ENVIRONMENT_PREFIXES
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ReproduceError(Exception):
    """The run cannot be reproduced as asked (unknown run, no repository): unusable input."""


@dataclass
class Attempt:
    run_id: str
    execution: Execution
    metrics: dict[str, float]
    logged: RunRecord | None = None  # the run as the re-executed code left it (None: it never started)


@dataclass
class ReproResult:
    run_id: str
    verdict: str  # identical | within-tolerance | within-seed-noise | diverged | not-compared | failed
    plan: ReproPlan
    attempts: list[Attempt]
    comparison: Comparison | None
    patch_applied: bool
    params_match: bool
    data_match: bool
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    history: tuple[HistoryComparison, ...] | None = None  # None: not asked (--history)
    options_used: tuple[str, ...] = ()  # --allow-command / --apply-diff, where they let something run
    original_status: str | None = None  # FINISHED, FAILED, ...: a run that failed then is no regression when it fails now
    env_manager: str = LOCAL_ENV  # the environment it ran in: MLflow's manager for a Projects run

    @property
    def reproduced(self) -> bool:
        return self.verdict in REPRODUCED_VERDICTS


def _environment(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith(_ENVIRONMENT_PREFIXES)}


def _datasets(run: RunRecord) -> dict[str, str]:
    return {f"{d.name} ({d.context or 'input'})": d.digest or "" for d in run.datasets}


def _params_match(original: RunRecord, plan: ReproPlan, logged: RunRecord | None) -> bool:
    """Whether the re-run ran with the original's params, judged on what its code logged itself.

    An MLflow Projects launcher logs the entry point's params before the code starts (and so
    does our target, afterwards): those count as passed only when the code then logged something
    itself, so that a script that died before logging anything does not "match"."""
    if logged is None:
        return False
    if any(original.params[k] != v for k, v in logged.params.items() if k in original.params):
        return False
    if plan.source == "mlproject":
        return bool(logged.params or logged.metrics)
    return all(k in logged.params for k in original.params)


def _launched_params(original: RunRecord, plan: ReproPlan, logged: RunRecord) -> dict[str, str]:
    """The params the re-run carries: for an MLflow Projects run, the launcher's and the code's."""
    return {**original.params, **logged.params} if plan.source == "mlproject" else dict(logged.params)


def _seeded(run: RunRecord) -> bool:
    return is_seeded(run.params, run.tags)


def reproduce_run(
    store: MlflowStore | ReproTarget,
    run_id: str,
    repo_root: Path,
    timeout: float = 3600.0,
    repeats: int = 1,
    tolerance: Tolerance = Tolerance(),
    per_metric: Mapping[str, Tolerance] | None = None,
    record: bool = False,
    history: bool = False,
    trust: Trust = Trust(),
    env_manager: str = LOCAL_ENV,
) -> ReproResult:
    """Re-execute ``run_id`` at its commit and compare. ``trust``: what may run beyond the
    repository's own entry points (``reproduce/trust.py``); a run that needs more is not
    executed and comes back ``failed`` with the reason and the option to pass.
    ``env_manager``: for an MLflow Projects run, the environment MLflow builds for it
    (``virtualenv``, ``uv``, ``conda``: through ``mlflow run``); ``local`` runs the entry point's
    command in this Python environment."""
    started = time.monotonic()
    target: ReproTarget = MlflowTarget(store) if isinstance(store, MlflowStore) else store
    original = target.get_run(run_id)
    if original is None:
        raise ReproduceError(f"no run {run_id} in {target.describe()}")
    plan = target.plan(original, repo_root)
    if env_manager != LOCAL_ENV and plan.entry_point is None:
        raise ReproduceError(
            f"run {run_id}: --env-manager {env_manager} builds an MLflow Projects environment, and this run was not "
            f"started from an MLproject entry point (its command comes from {plan.source}): reproduce it with --env-manager local"
        )
    unlocked: list[str] = []
    if plan.patch is not None:
        if not trust.apply_diff:
            return _refused(run_id, original, plan, diff_refusal(plan), started)
        unlocked.append(f"{APPLY_DIFF}: the run's recorded uncommitted diff is applied on commit {plan.commit[:12]} and executed")
    latest: RunRecord | None = None
    attempts: list[Attempt] = []
    patch_applied = False
    # Signals are honoured at safe points only (see interrupt.py): the worktree is always removed
    # and no reproduction run is left RUNNING, however the command is stopped.
    with interrupt.cooperative(), checkout(repo_root, plan.commit, plan.patch) as workspace:
        patch_applied = workspace.patch_applied
        untrusted = command_refusal(plan, workspace.path)
        if untrusted is not None:
            if not trust.allow_command:
                return _refused(run_id, original, plan, refused_note(untrusted), started)
            unlocked.append(allowed_note(untrusted))
        from mlrepro.reproduce.data import restore_and_check

        data = restore_and_check(workspace.path, repo_root, original.tags, timeout)  # DVC data, before it is read
        for attempt in range(max(repeats, 1)):
            interrupt.check()
            name = f"reproduce-{original.run_name or run_id[:8]}" + (f"-{attempt + 1}" if repeats > 1 else "")
            new_id, target_env = target.start(original, plan, name)
            argv = plan.argv
            if env_manager != LOCAL_ENV:
                # `mlflow run` gets the run on its command line and hands it to the entry point
                # itself; with MLFLOW_RUN_ID set, its own process would resume the run first.
                argv = plan.mlflow_run_argv(env_manager, new_id)
                target_env = {k: v for k, v in target_env.items() if k != "MLFLOW_RUN_ID"}
            env = child_env(os.environ, {**plan.env, **target_env})
            for variable in _THREAD_VARIABLES:  # unset at the original run: unset now, whatever this shell says
                if original.tags.get(tag_names.THREADS.format(variable)) == "unset":
                    env.pop(variable, None)
            execution = _execute(target, run_id, new_id, argv, workspace.path / plan.workdir, env, timeout)
            latest = target.finish(new_id, execution, f"timeout: killed after {timeout:g} s" if execution.timed_out else None)
            attempts.append(Attempt(new_id, execution, dict(latest.metrics) if latest else {}, latest))
    reproductions = [a.metrics for a in attempts]
    notes = [*unlocked, *plan.notes]  # first: the audit's MLR9xx messages show the first few
    comparison = None
    verdict = "failed"
    if any(a.execution.timed_out for a in attempts):
        notes.append(f"killed after the {timeout:g} s timeout")
    elif any(a.execution.returncode != 0 for a in attempts):
        notes.append("the re-executed command exited with a non-zero status")
    if all(a.metrics for a in attempts):
        comparison = compare_metrics(original.metrics, reproductions, tolerance, per_metric or {}, deterministic=_seeded(original))
        notes.extend(comparison.notes)
        if not any(a.execution.timed_out or a.execution.returncode != 0 for a in attempts):
            verdict = comparison.verdict
        else:
            notes.append("it logged metrics before failing: they are compared above, the verdict stays failed")
    elif not metrics_to_compare(list(original.metrics), per_metric or {}) and not any(a.execution.timed_out or a.execution.returncode != 0 for a in attempts):
        # Neither side has a metric to judge: the run completed, and proved nothing.
        verdict = NOT_COMPARED
        notes.append("the original run has no metrics to compare" if not original.metrics else "the original run has no metrics to compare (timing metrics only)")
    else:
        notes.append("the re-execution logged no metrics")
    histories = None
    if history and comparison is not None:
        histories = _compare_histories(target, original, attempts, tolerance, per_metric or {})
        verdict = _history_verdict(verdict, histories, _seeded(original), notes)
    if not _seeded(original):
        notes.append("the original run recorded no seed: not deterministic as far as its record shows, so it is judged against the spread of repeats")
    params_match = bool(attempts) and all(_params_match(original, plan, a.logged) for a in attempts)
    data_match = latest is None or not latest.datasets or _datasets(original) == _datasets(latest)
    data_match = data_match and data.match is not False
    notes.extend(data.notes)
    differences: list[str] = []
    if latest is not None:
        before = {"params": dict(original.params), "datasets": _datasets(original)}
        after = {"params": _launched_params(original, plan, latest), "datasets": _datasets(latest)}
        recorded, reproduced_env = _environment(original.tags), _environment(latest.tags)
        if recorded and reproduced_env:  # one side not captured: "8 entries -> 0" would name no cause
            before["environment"], after["environment"] = recorded, reproduced_env
        differences = explain(before, after)
    result = ReproResult(
        run_id=run_id,
        verdict=verdict,
        plan=plan,
        attempts=attempts,
        comparison=comparison,
        patch_applied=patch_applied,
        params_match=params_match,
        data_match=data_match,
        differences=differences,
        notes=notes,
        duration_s=time.monotonic() - started,
        history=histories,
        options_used=tuple(note.split(":", 1)[0] for note in unlocked),
        original_status=original.status,
        env_manager=env_manager,
    )
    if record:
        target.record(
            run_id,
            {
                tag_names.REPRODUCED_VERDICT: verdict,
                tag_names.REPRODUCED_RUN_IDS: ",".join(a.run_id for a in attempts),
                tag_names.REPRODUCED_DATE: datetime.now(timezone.utc).isoformat(timespec="seconds"),
                tag_names.REPRODUCED_PARAMS_MATCH: str(params_match).lower(),
                tag_names.REPRODUCED_DATA_MATCH: str(data_match).lower(),
            },
        )
    return result


def _refused(run_id: str, original: RunRecord, plan: ReproPlan, reason: str, started: float) -> ReproResult:
    """A run not executed because it needs an option (``trust.py``): failed, the reason first.
    Nothing is created in the tracker and nothing is recorded on the original."""
    return ReproResult(
        run_id=run_id, verdict="failed", plan=plan, attempts=[], comparison=None, patch_applied=False,
        params_match=False, data_match=False, notes=[reason, *plan.notes], duration_s=time.monotonic() - started,
        original_status=original.status,
    )


def _execute(target: ReproTarget, run_id: str, new_id: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float) -> Execution:
    """``execute``, with the reproduction run ``new_id`` ended whatever stops it: FAILED when the
    command cannot start (a ReproduceError naming the run), KILLED on a signal (re-raised)."""
    try:
        return execute(argv, cwd, env, timeout)
    except OSError as exc:
        cause = f"the command cannot be started: {argv[0]}: {exc.strerror or exc}"
        target.end(new_id, "FAILED", cause)
        raise ReproduceError(f"run {run_id}: reproduction run {new_id} ended as FAILED: {cause}") from None
    except BaseException as exc:
        why = interrupt.cause(exc)
        try:
            target.end(new_id, "KILLED", why)
        except Exception as failure:  # noqa: BLE001 - the stop itself must go on
            interrupt.note_ended(f"reproduction run {new_id} of run {run_id}: its processes stopped ({why}), but it could not be ended: {failure}")
        else:
            interrupt.note_ended(f"reproduction run {new_id} of run {run_id} ended as KILLED ({why}), its processes stopped")
        raise


_HISTORY_RANK = {"identical": 0, "within-tolerance": 1, "missing": 2, "diverged": 3}


def _compare_histories(
    store: ReproTarget, original: RunRecord, attempts: list[Attempt], tolerance: Tolerance, per_metric: Mapping[str, Tolerance]
) -> tuple[HistoryComparison, ...]:
    """Per metric, the worst of the reproductions' histories against the original's."""
    names = metrics_to_compare(list(original.metrics), per_metric)
    before = {name: store.metric_history(original.run_id, name) for name in names}
    worst: dict[str, HistoryComparison] = {}
    for attempt in attempts:
        after = {name: store.metric_history(attempt.run_id, name) for name in names}
        for item in compare_histories(before, after, tolerance, per_metric):
            if item.name not in worst or _HISTORY_RANK[item.outcome] > _HISTORY_RANK[worst[item.name].outcome]:
                worst[item.name] = item
    return tuple(worst[name] for name in sorted(worst))


def _history_verdict(verdict: str, histories: tuple[HistoryComparison, ...], seeded: bool, notes: list[str]) -> str:
    """A seeded run that ends on the same values by another path did not reproduce: its
    history decides as much as its final values. Without a seed, the paths are expected to
    differ, so they are reported but do not change the verdict."""
    off = [h for h in histories if h.outcome in ("diverged", "missing")]
    for h in off:
        what = f"diverged from step {h.first_step} ({h.original!r} -> {h.reproduced!r})" if h.outcome == "diverged" else f"{h.missing_steps} of {h.steps} steps not logged by the reproduction (first: step {h.first_step})"
        notes.append(f"history of {h.name}: {what}")
    if verdict in ("failed", "diverged", NOT_COMPARED):
        return verdict
    if off and seeded:
        return "diverged"
    if not off and verdict == "identical" and any(h.outcome == "within-tolerance" for h in histories):
        return "within-tolerance"
    return verdict


def _history_json(h: HistoryComparison) -> dict[str, object]:
    return {
        "steps": h.steps,
        "compared_steps": h.compared,
        "outcome": h.outcome,
        "first_step": h.first_step,
        "original": h.original,
        "reproduced": h.reproduced,
        "max_abs_diff": h.max_abs_diff,
        "missing_steps": h.missing_steps,
        "extra_steps": h.extra_steps,
    }


def result_json(result: ReproResult) -> dict[str, object]:
    """The machine-readable result (``--output-format json``)."""
    metrics = {}
    for m in result.comparison.metrics if result.comparison else ():
        metrics[m.name] = {
            "original": m.original,
            "reproduced": m.reproduced,
            "abs_diff": m.abs_diff,
            "rel_diff": m.rel_diff,
            "within_tolerance": m.within_tolerance,
            "outcome": m.outcome,
        }
    return {
        "run_id": result.run_id,
        "reproduction_run_ids": [a.run_id for a in result.attempts],
        "verdict": result.verdict,
        "original_status": result.original_status,
        "metrics": metrics,
        "spread": result.comparison.spread if result.comparison else {},
        **({"history": {h.name: _history_json(h) for h in result.history}} if result.history is not None else {}),
        "params_match": result.params_match,
        "data_match": result.data_match,
        "code": {"commit": result.plan.commit, "patch_applied": result.patch_applied, "entry_point": result.plan.source},
        "env_manager": result.env_manager,
        "command": list(result.plan.argv),
        "options_used": list(result.options_used),
        "differences": result.differences,
        "notes": result.notes,
        "log_tail": result.attempts[-1].execution.log_tail if result.attempts else "",
        "duration_s": round(result.duration_s, 3),
    }


def result_text(result: ReproResult) -> str:
    lines = [f"run {result.run_id}: {result.verdict}"]
    if result.original_status:
        lines.append(f"  original run: {result.original_status}")
    lines.append(f"  code: commit {result.plan.commit[:12]} ({result.plan.source} entry point)" + (", recorded uncommitted diff applied" if result.patch_applied else ""))
    if result.env_manager != LOCAL_ENV:
        lines.append(f"  environment: built by MLflow's {result.env_manager} environment manager (mlflow run)")
    lines.append("  reproductions: " + (", ".join(a.run_id for a in result.attempts) or "none (not executed)"))
    if result.options_used:
        lines.append("  executed because of: " + ", ".join(result.options_used))
    for m in result.comparison.metrics if result.comparison else ():
        diff = "" if m.abs_diff is None else f"  abs {m.abs_diff:.3g}  rel {m.rel_diff:.3g}" if m.rel_diff is not None else f"  abs {m.abs_diff:.3g}"
        lines.append(f"  {m.name}: {m.original} -> {m.reproduced}  {m.outcome}{diff}")
    for name, spread in (result.comparison.spread.items() if result.comparison else ()):
        lines.append(f"  {name} spread: " + ", ".join(f"{k} {v:.6g}" for k, v in spread.items()))
    for h in result.history or ():
        where = f", first at step {h.first_step}" if h.first_step is not None else ""
        lines.append(f"  history {h.name}: {h.compared}/{h.steps} steps compared, {h.outcome}{where}")
    lines.extend(f"  difference: {d}" for d in result.differences)
    lines.extend(f"  note: {n}" for n in result.notes)
    if result.verdict == "failed" and result.attempts:
        tail = result.attempts[-1].execution.log_tail.strip().splitlines()[-15:]
        lines.append("  log tail:")
        lines.extend(f"    {line}" for line in tail)
    lines.append(f"  took {result.duration_s:.1f} s")
    return "\n".join(lines) + "\n"
