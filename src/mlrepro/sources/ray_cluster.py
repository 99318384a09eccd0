"""Adapter for Ray: reproductions as tasks on a cluster (``--executor ray``). The only module
importing ``ray``, lazily: without the ``mlrepro[ray]`` extra every other command works.

Each reproduction is one task (its repeats run inside it, one after the other, as the local
engine runs them) reserving ``num-cpus`` / ``num-gpus`` / ``memory``, so that Ray places it on a
node that has them. The task is ``remote.reproduce_remotely``: it fetches the repository from
its remote or from a bundle put once into the object store, and runs the engine there. mlrepro's
own code goes with the job (``runtime_env`` ``py_modules``); the workers need Ray, MLflow and git.

A task whose worker dies (the node is lost, the OOM killer, a kill) is retried once
(``max_retries=1``; an exception raised by our code is a result, not retried), then reported
failed with Ray's cause. A signal to the driver cancels the tasks still pending or running:
the engine on the worker sees a KeyboardInterrupt, stops the training's process group and ends
its reproduction run as KILLED.
"""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import datetime, timezone
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlrepro.reproduce import interrupt
from mlrepro.reproduce.engine import ReproduceError, ReproResult
from mlrepro.reproduce.executors import Executor

MAX_RETRIES = 1
POLL_S = 0.5  # how soon the driver notices a signal
CANCEL_WAIT_S = 30.0  # how long a cancelled task gets to end its run and remove its workspace
_CRASHED = "failed on the Ray cluster"  # a worker died: its reproduction runs may be left RUNNING
INSTALL_HINT = "--executor ray needs Ray on this machine: pip install 'mlrepro[ray]'"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ReproduceError(INSTALL_HINT) from None
    return ray


def _connect(ray: Any, address: str | None) -> bool:
    """Connect this process as a driver; True when it did (and so must disconnect)."""
    if ray.is_initialized():
        return False
    import logging

    import mlrepro

    package = str(Path(mlrepro.__file__).resolve().parent)
    try:
        ray.init(
            address=address or "auto",
            log_to_driver=False,  # the training's output stays in the result's log tail, as locally
            logging_level=logging.ERROR,
            runtime_env={"py_modules": [package], "excludes": ["__pycache__", "*.pyc"]},
        )
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: Ray's own choice per version
        where = address or "RAY_ADDRESS / a cluster started on this machine"
        raise ReproduceError(f"cannot connect to the Ray cluster at {where}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    return True


def _cause(ray: Any, exc: BaseException) -> str:
    """Why a task failed, in one line, for the failed reproduction's note."""
    crashed = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError)
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    if isinstance(exc, crashed):
        return f"{_CRASHED} after {MAX_RETRIES} retry: {type(exc).__name__}: {first}"
    if isinstance(exc, ray.exceptions.TaskCancelledError):
        return "cancelled on the Ray cluster"
    return f"failed on the Ray cluster: {type(exc).__name__}: {first}"


def reproduce_on_ray(
    executor: Executor,
    target: Any,
    run_ids: Sequence[str],
    repo_root: Path,
    options: Mapping[str, Any],
) -> dict[str, ReproResult | str]:
    """Reproduce ``run_ids`` (each once) as tasks on the cluster, all submitted at once (the
    cluster's resources decide how many run side by side); run id -> result, or why it did not
    run. ``options``: ``engine.reproduce_run``'s keyword arguments."""
    from mlrepro.reproduce.remote import repository_source, reproduce_remotely
    from mlrepro.reproduce.target import MlflowTarget
    from mlrepro.sources.mlflow_store import MlflowStore, absolute_uri

    store = target.store if isinstance(target, MlflowTarget) else target
    if not isinstance(store, MlflowStore):
        raise ReproduceError("--executor ray re-executes MLflow runs: W&B runs are re-executed with --executor local")
    ray = _ray()
    unique = list(dict.fromkeys(run_ids))
    if not unique:
        return {}
    url, bundle = repository_source(repo_root)
    registry = os.environ.get("MLFLOW_REGISTRY_URI")
    # Ray's driver threads print the cluster's messages (a worker that died) to stdout, where
    # the command's result goes: while connected, they go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        connected = _connect(ray, executor.ray_address)
        try:
            submitted = datetime.now(timezone.utc)
            outcomes = _submit(ray, executor, reproduce_remotely, url, bundle, absolute_uri(store.uri), absolute_uri(registry) if registry else None, unique, options)
        finally:
            if connected:
                ray.shutdown()
    for run_id, outcome in outcomes.items():
        if isinstance(outcome, str) and outcome.startswith(_CRASHED):
            _end_orphans(store, run_id, submitted, outcome)
    return outcomes


def _end_orphans(store: Any, run_id: str, since: datetime, cause: str) -> None:
    """End as FAILED the reproduction runs of ``run_id`` that workers killed mid-task left
    RUNNING (started since ``since``, by this command's tasks: a dead worker ends nothing)."""
    from mlrepro import tags as tag_names
    from mlrepro.sources.mlflow_store import Experiment, TrackingStoreError

    original = store.get_run(run_id)
    if original is None:
        return
    quoted = run_id.replace("'", "")
    wanted = f"tags.`{tag_names.REPRODUCES}` = '{quoted}' and attributes.status = 'RUNNING'"
    try:
        for run in store.iter_runs([Experiment(original.experiment_id, original.experiment_name or "")], wanted):
            if run.start_time is not None and run.start_time >= since:
                store.set_tags(run.run_id, {tag_names.REPRODUCTION_CAUSE: cause})
                store.finish_run(run.run_id, "FAILED")
    except TrackingStoreError:
        pass  # the failed verdict stands; the run stays RUNNING, as the audit (MLR stale-running) will say


def _submit(
    ray: Any, executor: Executor, function: Any, url: str | None, bundle: bytes | None, tracking_uri: str, registry_uri: str | None,
    run_ids: Sequence[str], options: Mapping[str, Any],
) -> dict[str, ReproResult | str]:
    resources: dict[str, Any] = {"num_cpus": executor.num_cpus, "num_gpus": executor.num_gpus}
    if executor.memory:
        resources["memory"] = executor.memory
    task = ray.remote(**resources, max_retries=MAX_RETRIES, retry_exceptions=False)(function)
    shipped = ray.put(bundle) if bundle is not None else None  # once, however many tasks read it
    pending: dict[Any, str] = {}
    for run_id in run_ids:
        ref = task.options(name=f"mlrepro-reproduce-{run_id[:12]}").remote(url, shipped, tracking_uri, registry_uri, run_id, dict(options))
        pending[ref] = run_id
    return _collect(ray, pending)


def _collect(ray: Any, pending: dict[Any, str]) -> dict[str, ReproResult | str]:
    outcomes: dict[str, ReproResult | str] = {}
    # A signal is only recorded in here (interrupt.py) and honoured between waits: the tasks
    # are cancelled and given time to end their runs before the driver goes.
    try:
        with interrupt.cooperative():
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    run_id = pending.pop(ref)
                    try:
                        outcomes[run_id] = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        outcomes[run_id] = _cause(ray, exc)
                interrupt.check()
    except BaseException as exc:
        if pending:
            for ref in pending:
                ray.cancel(ref, force=False)  # a KeyboardInterrupt in the task: its engine ends the run
            ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_WAIT_S)
            why = interrupt.cause(exc)
            for run_id in pending.values():
                interrupt.note_ended(f"the Ray task reproducing run {run_id} was cancelled ({why})")
        raise
    return outcomes
