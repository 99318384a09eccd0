"""The code of a reproduction on a machine that does not share the driver's disk (a Ray
worker). Never prints; no Ray in here (``sources/ray_cluster.py`` submits it).

The driver names where the repository comes from (:func:`repository_source`): its remote's
URL when the driver can reach it, else a ``git bundle`` of every ref, whose bytes travel with
the task. On the worker, :func:`reproduce_remotely` fetches every ref of it (the commit, and a
``refs/mlrepro/`` snapshot of a dirty run) into a fresh repository in a temporary directory and
runs the same ``engine.reproduce_run`` as the local executor on it, which checks the commit out
in a worktree of that repository and applies a recorded diff. The directory goes whatever
happens; one left by a worker that was killed is removed by the next task on that machine.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlrepro.reproduce.engine import ReproduceError, ReproResult
from mlrepro.reproduce.workspace import GIT_TIMEOUT_SECONDS, WorkspaceError
from mlrepro.sources.git_capture import GitCaptureError, run_git

_PREFIX = "mlrepro-remote-"
_DIR_PATTERN = re.compile(re.escape(_PREFIX) + r"(\d+)-")
_GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")
# How long the driver waits for `git ls-remote` before shipping a bundle instead.
REACHABLE_TIMEOUT_S = 30.0


def _git(cwd: Path, *args: str) -> bytes:
    try:
        return run_git(cwd, *args, timeout=GIT_TIMEOUT_SECONDS, drop_env=_GIT_LOCATION_VARIABLES)
    except GitCaptureError as exc:
        raise WorkspaceError(exc.detail) from None


def _remote_url(repo_root: Path) -> str | None:
    """``origin``'s URL (else the first remote's), a local path made absolute."""
    try:
        names = _git(repo_root, "remote").decode().split()
    except WorkspaceError:
        return None
    if not names:
        return None
    name = "origin" if "origin" in names else names[0]
    try:
        url = _git(repo_root, "remote", "get-url", name).decode().strip()
    except WorkspaceError:
        return None
    if url and "://" not in url and not re.match(r"^[^/]+@[^/]+:|^[A-Za-z0-9.-]+:[^/]", url):
        url = str((repo_root / url).resolve())  # a path (scp-like "host:path" excepted)
    return url or None


def repository_source(repo_root: Path) -> tuple[str | None, bytes | None]:
    """Where a worker gets the repository: (the remote's URL, None) when this machine can reach
    it, else (None, a bundle of every ref). The commit must be on the remote: one that is not
    fails on the worker, naming it (push it, or remove the remote to ship the repository)."""
    url = _remote_url(repo_root)
    if url is not None:
        try:
            run_git(repo_root, "ls-remote", "--heads", url, timeout=REACHABLE_TIMEOUT_S, drop_env=_GIT_LOCATION_VARIABLES)
            return url, None
        except GitCaptureError:
            pass  # unreachable from here: ship the repository itself
    parent = Path(tempfile.mkdtemp(prefix="mlrepro-bundle-"))
    try:
        bundle = parent / "repo.bundle"
        _git(repo_root, "bundle", "create", "--quiet", str(bundle), "--all")
        return None, bundle.read_bytes()
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _sweep_stale(base: Path) -> None:
    """Directories of tasks whose worker process is gone (killed: no ``finally`` ran)."""
    for path in base.glob(_PREFIX + "*"):
        match = _DIR_PATTERN.match(path.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive, or someone else's


def _fetch(parent: Path, url: str | None, bundle: bytes | None) -> Path:
    repo = parent / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    source = url
    if bundle is not None:
        source = str(parent / "repo.bundle")
        Path(source).write_bytes(bundle)
    if source is None:
        raise WorkspaceError("no repository to fetch: neither a remote URL nor a bundle")
    try:
        # Every ref, not only branches: a dirty run's snapshot lives under refs/mlrepro/.
        _git(repo, "fetch", "--quiet", "--update-head-ok", source, "+refs/*:refs/*")
    except WorkspaceError as exc:
        where = "the bundle from the driver" if bundle is not None else url
        raise WorkspaceError(f"cannot fetch the repository from {where}: {exc}") from None
    return repo


def reproduce_remotely(
    url: str | None,
    bundle: bytes | None,
    tracking_uri: str,
    registry_uri: str | None,
    run_id: str,
    options: Mapping[str, Any],
) -> ReproResult | str:
    """One reproduction on this machine, from the repository at ``url`` or in ``bundle``: its
    result, or why it could not run (the message the local executor raises). ``options``:
    ``engine.reproduce_run``'s keyword arguments."""
    from mlrepro.reproduce.engine import reproduce_run
    from mlrepro.reproduce.plan import PlanError
    from mlrepro.sources.mlflow_store import MlflowStore, TrackingStoreError

    base = Path(tempfile.gettempdir())
    _sweep_stale(base)
    parent = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base)).resolve()
    previous_registry = os.environ.get("MLFLOW_REGISTRY_URI")
    try:
        if registry_uri is not None:
            os.environ["MLFLOW_REGISTRY_URI"] = registry_uri  # the target hands it to the training
        repo = _fetch(parent, url, bundle)
        store = MlflowStore.open(tracking_uri, writable=True)
        return reproduce_run(store, run_id, repo, **options)
    except (PlanError, WorkspaceError, ReproduceError, TrackingStoreError) as exc:
        return str(exc)
    finally:
        if registry_uri is not None:
            if previous_registry is None:
                os.environ.pop("MLFLOW_REGISTRY_URI", None)
            else:
                os.environ["MLFLOW_REGISTRY_URI"] = previous_registry
        shutil.rmtree(parent, ignore_errors=True)
