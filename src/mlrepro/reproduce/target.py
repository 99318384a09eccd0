"""Where a reproduction reads the original run and where its re-executions log: the one part
of reproducing that depends on the tracker. The engine plans, checks out, runs and compares
the same way for every target.

* ``MlflowTarget``: a run created beforehand in the same experiment, tagged
  ``mlrepro.reproduces``, which the training code resumes through ``MLFLOW_RUN_ID``.
* ``WandbTarget`` (``reproduce/wandb_target.py``): W&B in offline mode, into a fresh directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from mlrepro import tags as tag_names
from mlrepro.records import RunRecord
from mlrepro.reproduce.plan import ReproPlan, make_plan
from mlrepro.reproduce.runner import Execution
from mlrepro.sources.mlflow_store import MlflowStore, absolute_uri

REPRODUCES_TAG = tag_names.REPRODUCES


class ReproTarget(Protocol):
    def describe(self) -> str:
        """Where runs are looked up, for "no run X in ..."."""

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def plan(self, original: RunRecord, repo_root: Path) -> ReproPlan: ...

    def start(self, original: RunRecord, plan: ReproPlan, name: str) -> tuple[str, dict[str, str]]:
        """Prepare one re-execution: its run id, and the variables that make the child log there."""

    def finish(self, run_id: str, execution: Execution, cause: str | None = None) -> RunRecord | None:
        """After the child exited: the reproduction's run as it was logged (None if it never started).
        ``cause``: why it did not finish on its own (a timeout), kept on the run."""

    def end(self, run_id: str, status: str, cause: str) -> None:
        """The re-execution never completed (a signal, a command that cannot start): close its
        run as ``status`` (KILLED, FAILED) with ``cause``, so that nothing stays RUNNING."""

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]: ...

    def record(self, run_id: str, tags: Mapping[str, str]) -> None:
        """``--record``: keep the verdict on the original run."""


class MlflowTarget:
    def __init__(self, store: MlflowStore) -> None:
        self.store = store
        # Per reproduction run: the params a `mlflow run` launcher would have logged, added only
        # after the code ran, so that the run as `finish` reads it holds what the code logged itself.
        self._launcher_params: dict[str, dict[str, str]] = {}

    def describe(self) -> str:
        return self.store.uri

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.store.get_run(run_id)

    def plan(self, original: RunRecord, repo_root: Path) -> ReproPlan:
        return make_plan(original, repo_root)

    def start(self, original: RunRecord, plan: ReproPlan, name: str) -> tuple[str, dict[str, str]]:
        new_id = self.store.create_run(original.experiment_id, name, {REPRODUCES_TAG: original.run_id})
        if plan.source == "mlproject":
            # `mlflow run` logs the params in its launcher, not in the training code: so do we,
            # but after the code ran (``finish``): copied before, they would "match" by themselves.
            self._launcher_params[new_id] = dict(original.params)
        # The child runs in a temporary worktree, where `sqlite:///mlflow.db` is another database.
        env = {"MLFLOW_TRACKING_URI": absolute_uri(self.store.uri), "MLFLOW_RUN_ID": new_id}
        registry = os.environ.get("MLFLOW_REGISTRY_URI")
        if registry:
            env["MLFLOW_REGISTRY_URI"] = absolute_uri(registry)
        return new_id, env

    def finish(self, run_id: str, execution: Execution, cause: str | None = None) -> RunRecord | None:
        failed = execution.timed_out or execution.returncode != 0
        if cause:
            self.store.set_tags(run_id, {tag_names.REPRODUCTION_CAUSE: cause})
        self.store.finish_run(run_id, "KILLED" if execution.timed_out else "FAILED" if failed else "FINISHED")
        logged = self.store.get_run(run_id)
        self._log_launcher_params(run_id, logged.params if logged else {})
        return logged

    def end(self, run_id: str, status: str, cause: str) -> None:
        self.store.set_tags(run_id, {tag_names.REPRODUCTION_CAUSE: cause})
        self.store.finish_run(run_id, status)
        self._log_launcher_params(run_id, {})

    def _log_launcher_params(self, run_id: str, logged: Mapping[str, str]) -> None:
        # MLflow params are write-once: only those the code did not log itself.
        missing = {k: v for k, v in self._launcher_params.pop(run_id, {}).items() if k not in logged}
        if missing:
            self.store.log_params(run_id, missing)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return self.store.metric_history(run_id, key)

    def record(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.store.set_tags(run_id, dict(tags))
