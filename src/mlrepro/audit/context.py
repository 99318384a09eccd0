"""What audit checks may ask beyond the run itself: the policy, and facts about the code and
data repositories, behind small interfaces that the adapters implement (checks import no
git or dvc)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from mlrepro.audit.policy import AuditPolicy


class CodeRepository(Protocol):
    """The git repository the runs' code came from (``sources/git_repo.py``)."""

    root: Path

    def commit_exists(self, sha: str) -> bool: ...

    def on_remote(self, sha: str) -> bool | None:
        """Reachable from a remote-tracking branch; None when the repository has no remote."""

    def tracked_at(self, sha: str, path: str) -> bool:
        """Is ``path`` (relative to the root) a file in the commit's tree?"""

    def file_at(self, sha: str, path: str) -> bytes | None: ...

    def files_at(self, sha: str) -> frozenset[str]:
        """Every file path in the commit's tree (empty for an unknown commit)."""

    def remote_urls(self) -> tuple[str, ...]: ...

    @property
    def shallow(self) -> bool:
        """A shallow clone lacks older commits: "unknown commit" may only mean "not fetched"."""


class DataVersions(Protocol):
    """DVC-tracked data at a commit (``sources/dvc_repo.py``)."""

    def outputs_at(self, sha: str) -> dict[str, str]:
        """DVC output path (relative to the repository root) -> md5, as the commit records them."""


@dataclass(frozen=True)
class OtherRepository:
    """A repository besides the audited one whose runs the store holds (``--repo`` again, or
    ``[tool.mlrepro.repos]``): a run whose recorded repo URL is one of its remotes, or one of
    ``urls``, is checked against it."""

    repo: CodeRepository
    data: DataVersions | None = None
    urls: tuple[str, ...] = ()  # mapped to it by the configuration, whatever its remotes say


@dataclass
class AuditContext:
    policy: AuditPolicy
    repo: CodeRepository | None = None
    data: DataVersions | None = None
    artifacts_listed: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # run id -> reproduction outcome, filled only by `audit --reproduce` (MLR9xx read it).
    reproductions: dict[str, object] = field(default_factory=dict)
    # Runs that other audited runs name as their parent (``mlflow.parentRunId``): a sweep's or
    # a pipeline's parent, whose children do the training. Filled by the engine per audit.
    parent_run_ids: frozenset[str] = frozenset()
