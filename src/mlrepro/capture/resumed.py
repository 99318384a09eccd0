"""Capture for a run that this process resumes instead of starting.

``mlflow run`` creates the run in its own process and starts the project's entry point with
``MLFLOW_RUN_ID`` set; the entry point's ``mlflow.start_run()`` then resumes that run, and
``mlrepro reproduce`` launches its re-executions the same way. MLflow asks run-context
providers for tags only when ``start_run`` creates a run, so without this such runs would carry
no ``mlrepro.*`` tags: no dirty state, no diff, no threads or packages to compare.

So when MLflow loads the plugin in a process whose environment names a run to resume, the
capture happens here: the tags are collected on a thread (``import mlflow`` is not made slower,
and the training code is not held up) and written to the named run once this process has
finished importing MLflow. The thread is joined at exit, so that a short entry point still gets
its tags. A run that already carries capture tags (it was started, not only created, by a
process with the plugin) keeps them: the start is what they describe.
"""

from __future__ import annotations

import atexit
import os
import threading
import warnings
from collections.abc import Callable

from mlrepro import tags as tag_names

RUN_ID_ENV = "MLFLOW_RUN_ID"
# Set once a process has taken on the capture of a run: its child processes (DataLoader
# workers, spawned ranks) inherit the variable and leave the run alone.
CAPTURED_ENV = "MLREPRO_CAPTURED_RUN"
# At exit, how long the process waits for the tags to be written before it gives up on them.
JOIN_TIMEOUT_S = 60.0
_MAX_TAGS_PER_BATCH = 100  # MLflow's log_batch limit
_enabled = True


def not_in_this_process() -> None:
    """For mlrepro's own commands, which never resume a run: a stale ``MLFLOW_RUN_ID`` left in
    the shell must not make ``import mlflow`` write tags to that run (``audit`` is read-only)."""
    global _enabled
    _enabled = False


def capture_resumed_run(collect: Callable[[], dict[str, str]]) -> threading.Thread | None:
    """Start capturing the run ``MLFLOW_RUN_ID`` names, if any; the thread doing it."""
    run_id = os.environ.get(RUN_ID_ENV, "").strip()
    if not _enabled or not run_id or os.environ.get(CAPTURED_ENV) == run_id:
        return None
    os.environ[CAPTURED_ENV] = run_id
    thread = threading.Thread(target=_tag_run, args=(run_id, collect), name="mlrepro-capture", daemon=True)
    thread.start()
    atexit.register(thread.join, JOIN_TIMEOUT_S)
    return thread


def _tag_run(run_id: str, collect: Callable[[], dict[str, str]]) -> None:
    try:
        tags = collect()
        # Waits for the import of MLflow this thread was started from (module import locks).
        from mlflow.entities import RunTag
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        if tag_names.CAPTURE_VERSION in client.get_run(run_id).data.tags:
            return
        items = [RunTag(key, value) for key, value in sorted(tags.items())]
        for start in range(0, len(items), _MAX_TAGS_PER_BATCH):
            client.log_batch(run_id, tags=items[start : start + _MAX_TAGS_PER_BATCH])
    except Exception as exc:  # the training run goes on whatever happens here
        from mlrepro.redaction import redact

        try:
            warnings.warn(f"mlrepro could not record the run context of run {run_id}: {redact(f'{type(exc).__name__}: {exc}')}", UserWarning, stacklevel=1)
        except Exception:
            pass  # `-W error`: nothing else to do on a thread
