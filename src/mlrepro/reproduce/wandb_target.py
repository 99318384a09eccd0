"""Reproducing a W&B run: the original is read from its run directory, and each re-execution
runs W&B in offline mode into a fresh temporary directory, under a run id chosen beforehand
(``WANDB_RUN_ID``), so that its directory is found again without guessing. The user's
``wandb/`` directory and the original run are never written to: ``--record`` is refused.
"""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrepro.records import RunRecord
from mlrepro.reproduce.plan import PlanError, ReproPlan, make_plan
from mlrepro.reproduce.runner import Execution
from mlrepro.sources.wandb_dir import PATCH_FILE, WandbDirError, WandbDirs, read_history, read_run

class WandbTarget:
    def __init__(self, dirs: WandbDirs) -> None:
        self.dirs = dirs
        self._output: Path | None = None
        self._lock = threading.Lock()  # `audit --reproduce --jobs N` plans several runs at once
        self._new: dict[str, Path] = {}  # reproduction run id -> its run directory
        self._histories: dict[Path, dict[str, list[tuple[int, float]]]] = {}

    @classmethod
    def open(cls, paths: Sequence[Path]) -> WandbTarget:
        return cls(WandbDirs.open(paths))

    @property
    def output(self) -> Path:
        """Every reproduction's ``WANDB_DIR``: made when the first one is planned (an unknown run
        leaves nothing behind), kept afterwards so that the runs can be looked at or synced."""
        with self._lock:
            if self._output is None:
                self._output = Path(tempfile.mkdtemp(prefix="mlrepro-wandb-"))
            return self._output

    def describe(self) -> str:
        places = list(dict.fromkeys(str(p.parent) for p in self.dirs.run_dirs))
        return f"W&B director{'y' if len(places) == 1 else 'ies'} {', '.join(places)}"

    def _run_dir(self, run_id: str) -> Path | None:
        if run_id in self._new:
            return self._new[run_id]
        try:
            return self.dirs.find(run_id)
        except WandbDirError:
            return None

    def get_run(self, run_id: str) -> RunRecord | None:
        found = self._run_dir(run_id)
        return read_run(found) if found is not None else None

    def plan(self, original: RunRecord, repo_root: Path) -> ReproPlan:
        plan = make_plan(original, repo_root)
        plan = dataclasses.replace(plan, notes=(*plan.notes, f"reproductions run W&B offline into {self.output / 'wandb'}"))
        if plan.patch is not None or original.location is None:
            return plan
        patch = Path(original.location) / "files" / PATCH_FILE
        try:
            data = patch.read_bytes() if patch.is_file() else b""
        except OSError as exc:
            raise PlanError(f"{original.label}: cannot read {patch}: {exc.strerror or exc}") from None
        if not data.strip():
            return plan
        return dataclasses.replace(plan, patch=data, notes=(*plan.notes, f"the run's uncommitted changes ({PATCH_FILE}) are applied on the commit"))

    def start(self, original: RunRecord, plan: ReproPlan, name: str) -> tuple[str, dict[str, str]]:
        # W&B run ids: letters and digits; 8 like the SDK's own, so nothing looks out of place.
        new_id = "r" + secrets.token_hex(4)[:7]
        return new_id, {"WANDB_MODE": "offline", "WANDB_DIR": str(self.output), "WANDB_RUN_ID": new_id}

    def finish(self, run_id: str, execution: Execution, cause: str | None = None) -> RunRecord | None:
        # W&B writes its own exit record (or none, if the child was killed): nothing to close.
        runs = self.output / "wandb"  # the SDK puts its wandb/ folder inside WANDB_DIR
        found = [d for d in WandbDirs.open([runs], require_runs=False).run_dirs if d.name.endswith("-" + run_id)] if runs.is_dir() else []
        if not found:
            return None  # the command never reached wandb.init
        self._new[run_id] = found[0]
        return read_run(found[0])

    def end(self, run_id: str, status: str, cause: str) -> None:
        # A killed child leaves a log without an exit record: W&B's own mark of a crashed run.
        pass

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        found = self._run_dir(run_id)
        if found is None:
            return []
        if found not in self._histories:  # one pass over the log for all metrics
            self._histories[found] = read_history(found)
        return self._histories[found].get(key, [])

    def record(self, run_id: str, tags: Mapping[str, str]) -> None:
        raise WandbDirError("--record keeps the verdict on MLflow runs only: W&B run directories are left as they are")

