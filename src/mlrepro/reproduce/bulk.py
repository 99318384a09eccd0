"""Reproduce many runs at once, for ``mlrepro audit --reproduce``. Never prints.

Each reproduction runs in its own temporary worktree and its own subprocess, so the threads
here only wait: a thread pool gives ``jobs``-way parallelism without pickling anything.
A run that cannot be started again at all (no commit, no command, a recorded diff that no
longer applies) is a failed reproduction too, carrying the reason instead of a log tail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlrepro.findings import Finding, Severity
from mlrepro.records import RUNNING, ModelVersionRecord, RunRecord
from mlrepro.reproduce import interrupt
from mlrepro.reproduce.engine import ReproResult
from mlrepro.reproduce.executors import Executor
from mlrepro.reproduce.target import REPRODUCES_TAG, ReproTarget
from mlrepro.reproduce.trust import Trust
from mlrepro.sources.mlflow_store import MlflowStore


@dataclass
class NotStarted:
    """A run the bulk step could not re-execute; shaped like a failed ``ReproResult`` for the
    fields the audit checks read."""

    run_id: str
    reason: str
    verdict: str = "failed"
    attempts: list[object] = field(default_factory=list)
    comparison: None = None
    differences: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return [self.reason]

    @property
    def reproduced(self) -> bool:
        return False


Outcome = ReproResult | NotStarted


def reproduce_many(
    store: MlflowStore | ReproTarget,
    run_ids: Sequence[str],
    repo_root: Path,
    jobs: int = 1,
    timeout: float = 3600.0,
    trust: Trust = Trust(),
    executor: Executor = Executor(),
) -> dict[str, Outcome]:
    """Reproduce ``run_ids`` (duplicates once each), ``jobs`` at a time; run id -> outcome.
    ``executor``: ``ray`` submits them all as tasks to the cluster instead (``jobs`` is then the
    cluster's business: its free resources decide how many run at once).
    ``trust``: as for ``reproduce_run`` (a run that needs more comes back failed, with the reason).
    One run that cannot be re-executed or read back (its plan, its checkout, the tracker) is a
    failed reproduction of that run, not the end of the others."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from mlrepro.reproduce.engine import ReproduceError, reproduce_run
    from mlrepro.reproduce.plan import PlanError
    from mlrepro.reproduce.workspace import WorkspaceError
    from mlrepro.sources.mlflow_store import TrackingStoreError

    per_run: list[type[Exception]] = [PlanError, WorkspaceError, ReproduceError, TrackingStoreError]
    if "mlrepro.sources.wandb_dir" in sys.modules:  # only W&B targets import it
        per_run.append(sys.modules["mlrepro.sources.wandb_dir"].WandbDirError)
    unique = list(dict.fromkeys(run_ids))

    def one(run_id: str) -> Outcome:
        interrupt.check()  # a stop was asked for: start nothing new
        try:
            return reproduce_run(store, run_id, repo_root, timeout, trust=trust)
        except tuple(per_run) as exc:
            return NotStarted(run_id, str(exc))

    if not unique:
        return {}
    if not executor.is_local:
        from mlrepro.reproduce.target import MlflowTarget
        from mlrepro.sources.ray_cluster import reproduce_on_ray

        if not isinstance(store, (MlflowStore, MlflowTarget)):
            return {run_id: NotStarted(run_id, "--executor ray re-executes MLflow runs: reproduce W&B runs with --executor local") for run_id in unique}
        remote = reproduce_on_ray(executor, store, unique, repo_root, {"timeout": timeout, "trust": trust})
        return {run_id: NotStarted(run_id, out) if isinstance(out, str) else out for run_id, out in remote.items()}
    # Inside the cooperative region a signal reaches the worker threads (interrupt.py); the pool
    # is left only once every started reproduction has ended its run and removed its worktree.
    with interrupt.cooperative(), ThreadPoolExecutor(max_workers=max(1, min(jobs, len(unique))), thread_name_prefix="mlrepro-reproduce") as pool:
        return dict(zip(unique, pool.map(one, unique)))


def candidates(
    findings: Iterable[Finding],
    versions: Iterable[ModelVersionRecord],
    runs: Mapping[str, RunRecord],
    fetch_run: Callable[[str], RunRecord | None],
    limit: int | None = None,
) -> list[str]:
    """The runs worth re-executing, most important first: the sources of served model
    versions, then runs with error-level findings, in report order; at most ``limit``.

    Left out: runs still RUNNING (their metrics are not final) and reproductions themselves,
    so that repeated ``audit --reproduce`` does not reproduce its own re-executions."""
    wanted = [v.run_id for v in versions if v.in_use and v.run_id]
    wanted += [f.run.run_id for f in findings if f.severity is Severity.ERROR and f.run is not None and f.run.run_id]
    chosen: list[str] = []
    for run_id in dict.fromkeys(wanted):
        if limit is not None and len(chosen) >= limit:
            break
        run = runs.get(run_id) or fetch_run(run_id)
        if run is None or run.deleted or run.status == RUNNING or REPRODUCES_TAG in run.tags:
            continue
        chosen.append(run_id)
    return chosen
