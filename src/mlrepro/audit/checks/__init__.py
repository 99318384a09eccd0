"""Audit checks, one function per rule, grouped by family. Each is marked with its scope:

* ``@run_check``: ``(run, ctx) -> Iterable[str]`` — messages about one run;
* ``@runs_check``: ``(runs, ctx) -> Iterable[(run, message)]`` — needs all runs at once
  (indistinguishable runs);
* ``@model_check``: ``(versions, ctx, verdicts) -> Iterable[(version, message)]`` — registry
  versions, with the error-level verdict of each source run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

RUN, RUNS, MODEL = "run", "runs", "model"


def _scoped(scope: str) -> Callable[[F], F]:
    def mark(func: F) -> F:
        func.scope = scope  # type: ignore[attr-defined]
        return func

    return mark


run_check = _scoped(RUN)
runs_check = _scoped(RUNS)
model_check = _scoped(MODEL)
