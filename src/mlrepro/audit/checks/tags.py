"""Tags and names (MLR7xx): runs nobody can tell apart or find again."""

from __future__ import annotations

from collections.abc import Iterator

from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext
from mlrepro.records import RunRecord


@run_check
def missing_required_tags(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR701: tags the team policy requires are absent or empty."""
    missing = [tag for tag in ctx.policy.required_tags if not run.tags.get(tag, "").strip()]
    if missing:
        yield f"required tag{'s' if len(missing) > 1 else ''} missing or empty: {', '.join(missing)}"
