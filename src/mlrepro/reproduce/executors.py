"""Where reproductions execute: ``local`` (processes on this machine, as always) or ``ray``
(each reproduction a task on a Ray cluster, ``sources/ray_cluster.py``). Never prints.

The choice and the per-task resources come from ``[tool.mlrepro.reproduce]`` (``executor``,
``ray-address``, ``num-cpus``, ``num-gpus``, ``memory``) and the command line (``--executor``,
``--ray-address``, which win); the cluster address falls back on ``RAY_ADDRESS``. Both
executors run the same engine (``engine.reproduce_run``): the ray one only moves where it runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrepro.reproduce.engine import ReproduceError, ReproResult

LOCAL = "local"
RAY = "ray"
EXECUTORS = (LOCAL, RAY)


@dataclass(frozen=True)
class Executor:
    kind: str = LOCAL
    ray_address: str | None = None  # None: RAY_ADDRESS, else Ray's own default (a cluster started on this machine)
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None  # bytes a task reserves (Ray's scheduling, not a limit); None: none reserved

    @property
    def is_local(self) -> bool:
        return self.kind == LOCAL


def resolve_executor(section: Mapping[str, Any], executor: str | None = None, ray_address: str | None = None) -> Executor:
    """The executor from ``[tool.mlrepro.reproduce]`` (validated by ``config_schema``) and the
    command line. ``--ray-address`` without ``ray`` chosen anywhere is a usage error."""
    kind = executor or section.get("executor") or LOCAL
    if kind not in EXECUTORS:
        raise ReproduceError(f"unknown executor {kind!r}: choose local or ray")
    if kind == LOCAL:
        if ray_address is not None:
            raise ReproduceError("--ray-address needs --executor ray (or [tool.mlrepro.reproduce] executor = \"ray\")")
        return Executor()
    address = ray_address or os.environ.get("RAY_ADDRESS") or section.get("ray-address") or None
    memory = section.get("memory")
    return Executor(
        kind=RAY,
        ray_address=address,
        num_cpus=float(section.get("num-cpus", 1)),
        num_gpus=float(section.get("num-gpus", 0)),
        memory=int(memory) if memory is not None else None,
    )


def reproduce_one(executor: Executor, target: Any, run_id: str, repo_root: Path, **options: Any) -> ReproResult:
    """``engine.reproduce_run`` on the chosen executor; ``options`` are its keyword arguments."""
    from mlrepro.reproduce.engine import reproduce_run

    if executor.is_local:
        return reproduce_run(target, run_id, repo_root, **options)
    from mlrepro.sources.ray_cluster import reproduce_on_ray

    outcome = reproduce_on_ray(executor, target, [run_id], repo_root, options)[run_id]
    if isinstance(outcome, str):  # the reason it could not run, as the local engine would have raised it
        raise ReproduceError(outcome)
    return outcome
