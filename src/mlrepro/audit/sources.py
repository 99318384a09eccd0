"""Opening what an audit reads: the tracking store, W&B run directories, the git repository,
DVC. The one place that turns CLI/config choices into adapters, so the engine and checks stay
pure."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrepro import redaction
from mlrepro.audit.context import AuditContext, CodeRepository, OtherRepository
from mlrepro.audit.policy import AuditPolicy
from mlrepro.config import Settings
from mlrepro.records import ModelVersionRecord, RunRecord
from mlrepro.sources.git_repo import GitRepo, GitRepoError, LazyGitRepo, find_work_tree
from mlrepro.sources.mlflow_store import DEFAULT_TRACKING_URI, Experiment, MlflowStore, absolute_uri, resolve_tracking_uri

if TYPE_CHECKING:
    from mlrepro.sources.mlflow_sql import SqlRunReader
    from mlrepro.sources.wandb_dir import WandbDirs

# The tracking server's database, for the SQL fast path (see backend_database); the variable
# keeps its password out of pyproject.toml.
BACKEND_STORE_VARIABLE = "MLREPRO_BACKEND_STORE_URI"


@dataclass
class AuditSources:
    store: MlflowStore | None  # None: only W&B directories to audit (no store configured, none at the default)
    context: AuditContext
    wandb: WandbDirs | None = None
    # The store's database, read directly (sources/mlflow_sql.py) for the runs; None: the client.
    database_uri: str | None = None
    # One-line facts for the report (why the runs were read through the client after all).
    notes: list[str] = field(default_factory=list)

    def runs(
        self,
        include: Sequence[str],
        exclude: Sequence[str],
        since: datetime | None,
        progress: Callable[[int], None] | None = None,
        changed_since: datetime | None = None,
    ) -> Iterator[RunRecord]:
        """Runs to audit: all, those started since ``since``, or (incremental) those started or
        ended since ``changed_since`` plus every run still RUNNING. Then the W&B runs (local
        directories, always read in full; ``since`` and the experiment filters apply, matched
        against W&B projects)."""
        count = 0
        if self.store is not None:
            for run in self._mlflow_runs(include, exclude, since, changed_since):
                count += 1
                yield run
                if progress is not None:
                    progress(count)
        if self.wandb is not None:
            for run in self.wandb.iter_runs():
                if include and run.experiment_name not in include:
                    continue
                if run.experiment_name in exclude:
                    continue
                if since is not None and (run.start_time is None or run.start_time < since):
                    continue
                count += 1
                yield self._with_artifacts(run)
                if progress is not None:
                    progress(count)

    def _mlflow_runs(
        self, include: Sequence[str], exclude: Sequence[str], since: datetime | None, changed_since: datetime | None
    ) -> Iterator[RunRecord]:
        assert self.store is not None
        experiments = self.store.experiments(include, exclude)
        if changed_since is not None:
            ms = int(changed_since.timestamp() * 1000)
            filters = [f"attributes.start_time >= {ms}", f"attributes.end_time >= {ms}", "attributes.status = 'RUNNING'"]
        else:
            filters = [f"attributes.start_time >= {int(since.timestamp() * 1000)}" if since else ""]
        reader = self._fast_path(experiments, filters)
        seen: set[str] = set()
        try:
            for filter_string in filters:
                for run in (reader or self.store).iter_runs(experiments, filter_string):
                    if run.run_id in seen:
                        continue
                    seen.add(run.run_id)
                    yield self._with_artifacts(run)
        finally:
            if reader is not None:
                reader.close()

    def _fast_path(self, experiments: Sequence[Experiment], filters: Sequence[str]) -> SqlRunReader | None:
        """The SQL reader of the store's database when it can answer every query of this audit
        exactly as the client would; else None, and a note saying why. Decided before the
        first run is read, so that no run is read twice or missed."""
        if self.database_uri is None:
            return None
        from mlrepro.sources.mlflow_sql import SqlFastPathUnavailable, SqlRunReader

        reader = None
        try:
            reader = SqlRunReader.open(self.database_uri)
            reader.prepare(experiments, filters)
            return reader
        except SqlFastPathUnavailable as exc:
            if reader is not None:
                reader.close()
            self.notes.append(f"runs read through the MLflow client, not the SQL fast path: {exc.reason}")
            return None

    def _with_artifacts(self, run: RunRecord) -> RunRecord:
        if run.source == "wandb":  # the adapter lists a run directory's files (cheap, local) with the run
            return run if self.context.artifacts_listed else dataclasses.replace(run, artifacts=None)
        assert self.store is not None
        return dataclasses.replace(run, artifacts=self.store.list_artifacts(run)) if self.context.artifacts_listed else run

    def get_run(self, run_id: str) -> RunRecord | None:
        """A run outside the audited set (a served model's source), listed like the others."""
        if self.store is None:
            return None
        run = self.store.get_run(run_id)
        return self._with_artifacts(run) if run is not None else None

    def model_versions(self) -> list[ModelVersionRecord]:
        return list(self.store.iter_model_versions()) if self.store is not None else []


def open_sources(
    cwd: Path,
    settings: Settings,
    policy: AuditPolicy,
    tracking_uri: str | None,
    repo_path: Path | None,
    artifacts: bool,
    wandb_dirs: Sequence[Path] = (),
    writable: bool = False,
) -> AuditSources:
    """``writable``: the store will be written to (reproductions, promotions); else it is
    opened read-only."""
    wandb = _open_wandb(cwd, wandb_dirs)
    configured = settings.table.get("tracking-uri")
    uri = resolve_tracking_uri(tracking_uri, configured if isinstance(configured, str) else None)
    store: MlflowStore | None
    if wandb is not None and uri == DEFAULT_TRACKING_URI and wandb.run_dirs and not (cwd / "mlflow.db").is_file():
        store = None  # nothing configured and no embedded store here: audit the W&B runs alone
    else:
        store = MlflowStore.open(uri, writable=writable)
    database = backend_database(store.uri, settings, cwd) if store is not None else None
    repo: GitRepo | LazyGitRepo | None
    if repo_path is not None:
        repo = GitRepo.open(repo_path, search_parent_directories=False)  # an explicit --repo must be one
    else:
        # Outside a repository the checks that need one stay quiet.
        work_tree = find_work_tree(cwd)
        repo = LazyGitRepo(work_tree) if work_tree is not None else None
    context = AuditContext(policy=policy, repo=repo, data=data_versions(repo), artifacts_listed=artifacts)
    return AuditSources(store, context, wandb, database_uri=database)


def backend_database(tracking_uri: str, settings: Settings, cwd: Path) -> str | None:
    """The database the audit reads runs from directly: the tracking URI itself when it is
    one (``sqlite:///``, ``postgresql://``, ...), else for a tracking server its backend store,
    ``$MLREPRO_BACKEND_STORE_URI`` or ``[tool.mlrepro] backend-store-uri`` (a relative SQLite
    path from the configuration's directory), as the server was started with. None: the
    client reads the runs."""
    from mlrepro.sources.mlflow_sql import database_scheme

    if database_scheme(tracking_uri) is not None:
        return tracking_uri
    if not tracking_uri.lower().startswith(("http://", "https://")):
        return None
    configured = settings.table.get("backend-store-uri")
    if os.environ.get(BACKEND_STORE_VARIABLE, "").strip():
        database = absolute_uri(os.environ[BACKEND_STORE_VARIABLE].strip(), cwd)
    elif isinstance(configured, str) and configured.strip():
        database = absolute_uri(configured.strip(), settings.root)
    else:
        return None
    redaction.remember_uri(database)  # its password is redacted wherever it shows up from here on
    return database


def data_versions(repo: GitRepo | LazyGitRepo | None) -> Any:
    """The repository's DVC metadata reader, when it uses DVC."""
    if repo is None or not (repo.root / ".dvc").is_dir():
        return None
    from mlrepro.sources.dvc_repo import DvcRepo

    return DvcRepo(repo)


def open_repos(
    own: CodeRepository | None, paths: Sequence[Path], mapping: Sequence[tuple[str, Path]] = (), config_path: Path | None = None
) -> tuple[list[OtherRepository], tuple[str, ...]]:
    """The repositories audited besides ``own``: each ``--repo`` after the first (``paths``; each
    must be one), then the clones ``[tool.mlrepro.repos]`` maps URLs to (``mapping``, read from
    ``config_path``). The command line wins: an entry whose URL is a remote of ``own`` or of a
    ``--repo`` is not used. Returns them with the configured URLs that map to ``own`` itself."""
    from mlrepro.config import ConfigError
    from mlrepro.config_schema import show_key
    from mlrepro.run_commit import repo_key

    given = [GitRepo.open(path, search_parent_directories=False) for path in paths]
    # Only with a mapping: reading the remotes opens the audited repository, lazy until then.
    served: list[CodeRepository] = [*([own] if own is not None else []), *given]
    claimed = {repo_key(url) for repo in served for url in repo.remote_urls()} if mapping else set()
    own_root = own.root if own is not None else None
    own_urls: list[str] = []
    urls_of: dict[Path, list[str]] = {repo.root: [] for repo in given}
    for url, path in mapping:
        if repo_key(url) in claimed:
            continue
        if path == own_root:
            own_urls.append(url)
        else:
            urls_of.setdefault(path, []).append(url)
    repos: list[GitRepo] = list(given)
    for path, urls in urls_of.items():
        if any(repo.root == path for repo in given):
            continue
        try:
            repos.append(GitRepo.open(path, search_parent_directories=False))
        except GitRepoError:
            where = f"{config_path}: " if config_path is not None else ""
            raise ConfigError(
                f"{where}[tool.mlrepro.repos] {show_key(urls[0])} = {path}: not a git repository "
                "(clone the repository there, or fix the path)"
            ) from None
    return [OtherRepository(repo, data_versions(repo), tuple(urls_of.get(repo.root, ()))) for repo in repos], tuple(own_urls)


def _open_wandb(cwd: Path, paths: Sequence[Path]) -> WandbDirs | None:
    """``--wandb-dir`` paths (each must hold runs), else ``./wandb`` when it exists (it may hold
    only logs)."""
    default = cwd / "wandb"
    if not paths and not default.is_dir():
        return None
    from mlrepro.sources.wandb_dir import WandbDirs

    if paths:
        return WandbDirs.open([p if p.is_absolute() else cwd / p for p in paths], require_runs=True)
    return WandbDirs.open([default], require_runs=False)
