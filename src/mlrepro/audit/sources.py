"""Opening what an audit reads: the tracking store, the git repository, DVC. The one place
that turns CLI/config choices into adapters, so the engine and checks stay pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlrepro.audit.context import AuditContext
from mlrepro.audit.policy import AuditPolicy
from mlrepro.config import Settings
from mlrepro.records import ModelVersionRecord, RunRecord
from mlrepro.sources.git_repo import GitRepo, LazyGitRepo, find_work_tree
from mlrepro.sources.mlflow_store import MlflowStore, resolve_tracking_uri


@dataclass
class AuditSources:
    store: MlflowStore
    context: AuditContext

    def runs(
        self,
        include: Sequence[str],
        exclude: Sequence[str],
        since: datetime | None,
        progress: Callable[[int], None] | None = None,
        changed_since: datetime | None = None,
    ) -> Iterator[RunRecord]:
        """Runs to audit: all, those started since ``since``, or (incremental) those started or
        ended since ``changed_since`` plus every run still RUNNING."""
        experiments = self.store.experiments(include, exclude)
        if changed_since is not None:
            ms = int(changed_since.timestamp() * 1000)
            filters = [f"attributes.start_time >= {ms}", f"attributes.end_time >= {ms}", "attributes.status = 'RUNNING'"]
        else:
            filters = [f"attributes.start_time >= {int(since.timestamp() * 1000)}" if since else ""]
        seen: set[str] = set()
        count = 0
        for filter_string in filters:
            for run in self.store.iter_runs(experiments, filter_string):
                if run.run_id in seen:
                    continue
                seen.add(run.run_id)
                count += 1
                yield self._with_artifacts(run)
                if progress is not None:
                    progress(count)

    def _with_artifacts(self, run: RunRecord) -> RunRecord:
        return dataclasses.replace(run, artifacts=self.store.list_artifacts(run)) if self.context.artifacts_listed else run

    def get_run(self, run_id: str) -> RunRecord | None:
        """A run outside the audited set (a served model's source), listed like the others."""
        run = self.store.get_run(run_id)
        return self._with_artifacts(run) if run is not None else None

    def model_versions(self) -> list[ModelVersionRecord]:
        return list(self.store.iter_model_versions())


def open_sources(
    cwd: Path,
    settings: Settings,
    policy: AuditPolicy,
    tracking_uri: str | None,
    repo_path: Path | None,
    artifacts: bool,
) -> AuditSources:
    configured = settings.table.get("tracking-uri")
    uri = resolve_tracking_uri(tracking_uri, configured if isinstance(configured, str) else None)
    store = MlflowStore.open(uri)
    repo: GitRepo | LazyGitRepo | None
    if repo_path is not None:
        repo = GitRepo.open(repo_path, search_parent_directories=False)  # an explicit --repo must be one
    else:
        # Outside a repository the checks that need one stay quiet.
        work_tree = find_work_tree(cwd)
        repo = LazyGitRepo(work_tree) if work_tree is not None else None
    data = None
    if repo is not None and (repo.root / ".dvc").is_dir():
        from mlrepro.sources.dvc_repo import DvcRepo

        data = DvcRepo(repo)
    context = AuditContext(policy=policy, repo=repo, data=data, artifacts_listed=artifacts)
    return AuditSources(store, context)
