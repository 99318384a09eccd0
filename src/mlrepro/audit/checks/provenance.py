"""Code provenance (MLR5xx): can the code that produced the run be found again?"""

from __future__ import annotations

from collections.abc import Iterator

from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext
from mlrepro.records import RunRecord


@run_check
def missing_git_commit(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR501: no ``mlflow.source.git.commit``: the run cannot be tied to any code."""
    if not run.git_commit:
        yield "no git commit recorded (`mlflow.source.git.commit`): the code that produced this run cannot be found"
