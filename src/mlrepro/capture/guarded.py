"""``tracked_run``: the team's guarded way to start an MLflow run.

It refuses, before anything reaches the tracking store, a run that the team's own audit
would flag for something knowable at start: required tags and params missing (MLR701,
MLR709), no seed (MLR506), a placeholder or missing run name (MLR702). The same check
functions as the audit run on the run as it would be created, so the two cannot disagree;
rules the configuration switches off, or whose severity is below ``fail-on``, do not refuse.

Then it starts the run through the fluent ``mlflow.start_run`` (so that the capture plugin
tags it), logs params, the uncommitted diff and the pip freeze as artifacts, seeds every
generator last (so that nothing MLflow does draws from them before the block), and always
ends the run: FINISHED, FAILED (tag ``mlrepro.error`` = exception type), or KILLED on
``KeyboardInterrupt`` and on SIGTERM (a scheduler's timeout or preemption; the process still
dies of the signal afterwards). Only SIGKILL and ``os._exit`` can still leave a run RUNNING.

What the audit needs that only the caller can give: a descriptive ``run_name``, the
required tags (by default ``dataset_version`` among them, which also names the data for
MLR601, unless the run logs a dataset input), a ``seed``, a clean and pushed commit, and a
metric whenever a model is logged (MLR706).

This module talks to MLflow directly: the capture package is MLflow's plugin side, the one
place besides ``sources/`` where MLflow is the point.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import math
import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from mlrepro import tags as tag_names

PATCH_ARTIFACT = "mlrepro/uncommitted.patch"
FREEZE_ARTIFACT = "mlrepro/requirements.lock.txt"
GATE_TAG = tag_names.MODEL_GATE
ERROR_TAG = tag_names.ERROR
CAPTURE_ERROR_TAG = tag_names.CAPTURE_ERROR
FREEZE_TAG = tag_names.FREEZE
RUN_BY_TAG = tag_names.RUN_BY
SEED_TAG = tag_names.SEED
COMMIT_TAG = tag_names.MLFLOW_COMMIT
CAPTURED_COMMIT_TAG = tag_names.GIT_COMMIT
BRANCH_TAG = tag_names.MLFLOW_BRANCH
CAPTURED_BRANCH_TAG = tag_names.GIT_BRANCH
CAPTURE_VERSION_TAG = tag_names.CAPTURE_VERSION

# The audit rules whose findings are decided before the run exists.
PRE_RUN_RULES = ("MLR701", "MLR709", "MLR506", "MLR702")
_FAIL_ON_RANK = {"note": 0, "warning": 1, "error": 2}
_MAX_TAG = 8000  # MLflow's limit on a tag value
# What to pass to tracked_run, after the audit's own words.
_HINTS = {
    "MLR701": ": pass them in tags={...}",
    "MLR709": ": pass them in params={...}",
    "MLR506": ": pass seed=...",
    "MLR702": ": pass a run_name that says what the run tries",
}


class PolicyError(ValueError):
    """The run breaks the team policy; nothing was written to the tracking store."""

    def __init__(
        self,
        problems: list[tuple[str, str]],
        missing_tags: tuple[str, ...] = (),
        missing_params: tuple[str, ...] = (),
        config_path: Path | None = None,
    ) -> None:
        self.problems = problems  # (rule code, message)
        self.missing_tags = missing_tags
        self.missing_params = missing_params
        self.config_path = config_path
        listed = "; ".join(f"{message} ({code}{_HINTS.get(code, '')})" for code, message in problems)
        source = f"policy of {config_path}" if config_path else "default policy (no [tool.mlrepro] table found)"
        super().__init__(f"run refused by the team policy, nothing was logged: {listed} [{source}]")


class _Terminated(BaseException):
    """SIGTERM arrived inside the block (BaseException, like KeyboardInterrupt: not an error
    of the training code that ``except Exception`` should swallow)."""


def _strings(values: Mapping[str, Any] | None, what: str) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise TypeError(f"{what} must be a mapping, not {type(values).__name__}")
    return {str(key): str(value) for key, value in values.items()}


def _check_gate(min_metric: Mapping[str, float] | None) -> dict[str, float]:
    if min_metric is None:
        return {}
    bars: dict[str, float] = {}
    for key, bar in min_metric.items():
        if isinstance(bar, bool) or not isinstance(bar, (int, float)) or math.isnan(bar):
            raise TypeError(f"min_metric[{key!r}] must be a number, not {bar!r}")
        bars[str(key)] = float(bar)
    return bars


def _policy_problems(run_name: str | None, tags: dict[str, str], params: dict[str, str]) -> PolicyError | None:
    """The pre-run audit rules applied to the run as it would be created."""
    from mlrepro.audit.context import AuditContext
    from mlrepro.audit.policy import load_policy
    from mlrepro.config import resolve_settings
    from mlrepro.records import RUNNING, RunRecord
    from mlrepro.registry import bind, enabled_codes, rules_for

    settings = resolve_settings(Path.cwd())
    policy = load_policy(settings)
    rules = {rule.code: rule for rule in rules_for("run") if rule.code in PRE_RUN_RULES}
    enabled = enabled_codes(settings, rules)
    floor = _FAIL_ON_RANK[policy.fail_on]
    record = RunRecord(
        run_id="", experiment_id="", experiment_name=None, run_name=run_name, status=RUNNING,
        start_time=None, end_time=None, params=params, tags=tags,
    )
    ctx = AuditContext(policy=policy)
    problems: list[tuple[str, str]] = []
    for code in PRE_RUN_RULES:
        rule = rules.get(code)
        if rule is None or code not in enabled or rule.severity.rank < floor:
            continue
        check = bind(rule)
        problems.extend((code, message) for message in check(record, ctx))  # type: ignore[operator]
    if not problems:
        return None
    missing_tags = tuple(t for t in policy.required_tags if not tags.get(t, "").strip()) if "MLR701" in enabled else ()
    missing_params = tuple(p for p in policy.required_params if not params.get(p, "").strip()) if "MLR709" in enabled else ()
    return PolicyError(problems, missing_tags, missing_params, settings.config_path)


def gate_verdict(min_metric: Mapping[str, float], metrics: Mapping[str, float]) -> tuple[bool, str]:
    """(passed, reason): every metric present, a number, and at least its bar."""
    failures: list[str] = []
    passes: list[str] = []
    for key, bar in min_metric.items():
        value = metrics.get(key)
        if value is None:
            failures.append(f"{key} not logged")
        elif math.isnan(value):
            failures.append(f"{key}=nan is not a number")
        elif value < bar:
            failures.append(f"{key}={value!r} < {bar!r}")
        else:
            passes.append(f"{key}={value!r} >= {bar!r}")
    if failures:
        return False, "blocked: " + "; ".join(failures)
    return True, "passed: " + "; ".join(passes)


class TrackedRun:
    """The handle ``tracked_run`` yields: log through it, or through ``mlflow.*`` as usual
    (the run is the active fluent run)."""

    def __init__(self, run_id: str, experiment_id: str, min_metric: dict[str, float]) -> None:
        import mlflow

        self.run_id = run_id
        self.experiment_id = experiment_id
        self.min_metric = min_metric
        self.model_gate: str | None = None
        self._client = mlflow.MlflowClient()

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        import mlflow

        mlflow.log_metric(key, value, step=step, run_id=self.run_id)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        import mlflow

        mlflow.log_metrics(dict(metrics), step=step, run_id=self.run_id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        import mlflow

        mlflow.log_params(dict(params), run_id=self.run_id)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self._client.log_batch(self.run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()])

    def metrics(self) -> dict[str, float]:
        """The run's latest metric values, as the store holds them."""
        import mlflow

        mlflow.flush_async_logging()  # metrics logged asynchronously must count for the gate
        return dict(self._client.get_run(self.run_id).data.metrics)

    def log_model(self, flavor_module: ModuleType, model: Any, **kwargs: Any) -> Any:
        """``flavor_module.log_model(model, **kwargs)`` (e.g. ``mlflow.sklearn``), unless the
        run's metrics miss a ``min_metric`` bar: then nothing is logged, tag
        ``mlrepro.model_gate`` says why, and the result is None."""
        if self.min_metric:
            passed, reason = gate_verdict(self.min_metric, self.metrics())
            self.model_gate = reason
            self._client.set_tag(self.run_id, GATE_TAG, reason[:_MAX_TAG])
            if not passed:
                return None
        return flavor_module.log_model(model, **kwargs)


def _experiment_id(name: str | None) -> str | None:
    """Get or create by name without making it the process's active experiment."""
    if name is None:
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise ValueError(f"experiment {name!r} is deleted: restore it or choose another name")
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        # Another process created it between the two calls.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _capture_error(exc: BaseException, what: str) -> str:
    from mlrepro.capture.collect import CaptureWarning

    from mlrepro.redaction import redact

    # Kept in a tag on a shared server: an MLflow error quotes the tracking URI, password included.
    message = redact(f"{type(exc).__name__}: {exc}")
    warnings.warn(f"mlrepro could not capture {what}: {message}", CaptureWarning, stacklevel=4)
    return f"{what}: {message}"[:_MAX_TAG]


def _log_bytes(run_id: str, data: bytes, artifact: str) -> None:
    import mlflow

    folder, _, name = artifact.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="mlrepro-") as tmp:
        local = Path(tmp) / name
        local.write_bytes(data)
        mlflow.log_artifact(str(local), folder or None, run_id=run_id)


def _record_capture(run_id: str, recorded: Mapping[str, str]) -> None:
    """What the plugin could not do: the diff and the freeze as artifacts; the capture tags
    when the plugin did not run (``MLREPRO_CAPTURE=0``, or the entry point not installed:
    a guarded run promises an auditable run either way); the commit when MLflow found none.
    Never raises: a capture that fails is recorded as ``mlrepro.capture_error``."""
    import mlflow

    from mlrepro.capture import collect

    cwd = Path.cwd()
    tags: dict[str, str] = {}
    errors: list[str] = []
    if CAPTURE_VERSION_TAG not in recorded and CAPTURE_ERROR_TAG not in recorded:
        try:
            tags.update({k: v for k, v in collect.collect_tags(cwd).items() if k not in recorded})
        except Exception as exc:
            errors.append(_capture_error(exc, "the run context"))
    try:
        # The repository the capture tags describe: the script's, else the working directory's.
        root = collect.repository_root(cwd, list(sys.argv)) or cwd
        patch = collect.uncommitted_patch(root)
        if patch:  # b"": no tracked file changed
            _log_bytes(run_id, patch, PATCH_ARTIFACT)
    except Exception as exc:
        errors.append(_capture_error(exc, "the uncommitted diff"))
    try:
        freeze = collect.pip_freeze()
        mlflow.log_text(freeze, FREEZE_ARTIFACT, run_id=run_id)
        digest = hashlib.sha256(freeze.encode("utf-8")).hexdigest()
        if {**recorded, **tags}.get(FREEZE_TAG) != digest:
            tags[FREEZE_TAG] = digest  # the tag names the artifact logged beside it
    except Exception as exc:
        errors.append(_capture_error(exc, "the pip freeze"))
    # MLflow reads the commit once per process, from the script's path only: a notebook or
    # any long-lived process records the commit of its first run on every later run, and
    # `python -c`/`-m` record none. The capture reads it at every run start, from the same
    # repository (the script's, else the working directory's), so it wins.
    captured = {**recorded, **tags}
    commit = captured.get(CAPTURED_COMMIT_TAG)
    if commit and recorded.get(COMMIT_TAG) != commit:
        tags[COMMIT_TAG] = commit
        branch = captured.get(CAPTURED_BRANCH_TAG)
        if branch and branch != "HEAD" and recorded.get(BRANCH_TAG) != branch:
            tags[BRANCH_TAG] = branch
    if not {**recorded, **tags}.get(RUN_BY_TAG):
        tags[RUN_BY_TAG] = _user()
    if errors:
        previous = recorded.get(CAPTURE_ERROR_TAG, "")
        tags[CAPTURE_ERROR_TAG] = "; ".join([previous, *errors] if previous else errors)[:_MAX_TAG]
    if tags:
        from mlflow.entities import RunTag

        items = [RunTag(key, value) for key, value in tags.items()]
        client = mlflow.MlflowClient()
        try:
            # log_batch takes at most 100 tags; DVC outputs plus diff parts can exceed that.
            for start in range(0, len(items), 100):
                client.log_batch(run_id, tags=items[start : start + 100])
        except Exception as exc:
            warnings.warn(f"mlrepro: could not record the capture tags: {_capture_error(exc, 'the tags')}", stacklevel=2)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no USER variable and no passwd entry (some containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``_Terminated`` instead of killing the process at
    once, so the run can be ended KILLED. Only where Python allows it (main thread) and only
    over the default action: a handler the program installed itself stays in charge."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _end(run_id: str, status: str, error: str | None) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    if error is not None:
        client.set_tag(run_id, ERROR_TAG, error)
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    elif status != "FINISHED" or client.get_run(run_id).info.status == "RUNNING":
        # The block ended the run itself (or left a child run active): the outcome still counts.
        client.set_terminated(run_id, status)


@contextlib.contextmanager
def tracked_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    min_metric: Mapping[str, float] | None = None,
    tracking_uri: str | None = None,
    deterministic: bool = False,
) -> Iterator[TrackedRun]:
    """A policy-checked, seeded, fully captured MLflow run that always ends.

    Raises :class:`PolicyError` (nothing created: no run, no experiment) when the run would
    break the team policy read from the nearest ``pyproject.toml`` above the working
    directory. ``seed`` seeds everything (``seed_everything(seed, deterministic)``; with
    ``deterministic=True`` PyTorch and TensorFlow also use deterministic kernels) right
    before the block runs and is logged as param ``seed``. ``min_metric`` gates
    ``TrackedRun.log_model``: every named metric must be logged and at least its bar
    (higher is better). ``tracking_uri`` sets the process's tracking URI, as
    ``mlflow.set_tracking_uri`` does, so that ``mlflow.*`` calls in the block reach the
    same store.
    """
    from mlrepro.capture.seeding import check_seed, seed_everything

    user_tags = _strings(tags, "tags")
    run_params = _strings(params, "params")
    bars = _check_gate(min_metric)
    if seed is not None:
        seed = check_seed(seed)
        if run_params.get("seed", str(seed)) != str(seed):
            raise ValueError(f"params['seed']={run_params['seed']} disagrees with seed={seed}: the run would record a seed it did not use")
        run_params["seed"] = str(seed)
    problem = _policy_problems(run_name, user_tags, run_params)
    if problem is not None:
        raise problem

    import mlflow

    if mlflow.active_run() is not None:
        # Checked before the experiment is created: a refused run leaves nothing behind.
        raise RuntimeError(f"an MLflow run is already active ({mlflow.active_run().info.run_id}): end it before tracked_run starts one")
    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    experiment_id = _experiment_id(experiment)
    start_tags = dict(user_tags)
    if seed is not None:
        start_tags[SEED_TAG] = str(seed)
    status, error = "FINISHED", None
    try:
        with _sigterm_raises():
            active = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=start_tags)
            run_id = active.info.run_id
            try:
                handle = TrackedRun(run_id, active.info.experiment_id, bars)
                if run_params:
                    mlflow.log_params(run_params, run_id=run_id)
                _record_capture(run_id, dict(active.data.tags))
                if seed is not None:
                    # Last, after MLflow's own work, so that nothing draws from the seeded
                    # generators between the seeding and the block. No seed got past the
                    # policy only where the team switched MLR506 off.
                    seed_everything(seed, deterministic)  # noqa: MLR113
                yield handle
            except _Terminated:
                status, error = "KILLED", "SIGTERM"
                raise
            except KeyboardInterrupt:
                status, error = "KILLED", "KeyboardInterrupt"
                raise
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    status, error = "FAILED", "SystemExit"
                raise
            except BaseException as exc:
                status, error = "FAILED", type(exc).__name__
                raise
            finally:
                try:
                    _end(run_id, status, error)
                except Exception as exc:
                    if error is None:
                        raise
                    # Keep the block's own exception: it is the one the caller must see.
                    warnings.warn(f"mlrepro could not end run {run_id} as {status}: {exc}", stacklevel=3)
    except _Terminated:
        # The default handler is back: die of the signal, as the scheduler expects, now that
        # the run is ended.
        os.kill(os.getpid(), signal.SIGTERM)
        raise
