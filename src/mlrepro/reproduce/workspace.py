"""A throwaway checkout of a run's commit, outside the user's repository.

A detached ``git worktree`` in a fresh temporary directory: it shares the object store (no
clone, no network) and leaves the user's working tree, index, HEAD and branches alone. (Not
``mlflow.projects.run`` with a local path and ``version=``: that checks the commit out in the
user's own checkout.) The worktree is removed on every way out of the ``with`` block,
exceptions and Ctrl-C included.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlrepro.sources.git_capture import GitCaptureError, run_git

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

# A large repository's checkout takes a while; a hung git (a credential prompt from a hook)
# must still end.
GIT_TIMEOUT_SECONDS = 600.0
# Variables that point git at another repository or index: inside a git hook they are set,
# and would make our commands read or write the user's index instead.
_GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")
# In the repository's git directory, beside git's own bookkeeping (git ignores unknown files there).
LOCK_FILE_NAME = "mlrepro-worktree.lock"

# git's `worktree add`, `remove` and `prune` are not safe against each other on one repository:
# `add` reads every .git/worktrees/* entry while another `add` has created its own but not yet
# written it ("failed to read .git/worktrees/x/commondir"), and `prune` deletes an entry that is
# still being created. `audit --reproduce --jobs N` (threads) and concurrent `mlrepro reproduce`
# commands (processes) do exactly that, so those three commands take a per-repository lock: a
# threading.Lock for the threads of this process, and flock on a file in the git common
# directory for other processes (an flock is released when its holder dies, however it dies).
# Only the commands are serialised: the checkouts then live, and re-execute, side by side.
_thread_locks: dict[Path, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


class WorkspaceError(Exception):
    """The commit cannot be checked out, or the recorded patch does not apply."""


@dataclass
class Workspace:
    path: Path  # the worktree's root: the repository at the commit, patch applied
    patch_applied: bool


@contextmanager
def checkout(repo_root: Path, commit: str, patch: bytes | None) -> Iterator[Workspace]:
    """The repository at ``repo_root`` checked out at ``commit`` in a temporary worktree, with
    ``patch`` (a ``git diff --binary``, untracked files as new files) applied when given."""
    root = _toplevel(repo_root)
    if commit.startswith("-"):
        raise WorkspaceError(f"{commit!r} is not a commit")
    try:
        sha = _git(root, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").strip()
    except WorkspaceError:
        sha = ""
    if not sha:
        raise WorkspaceError(f"commit {commit} is not in the repository at {root}")

    common = _common_dir(root)
    parent = Path(tempfile.mkdtemp(prefix="mlrepro-repro-")).resolve()
    path = parent / (root.name or "worktree")
    try:
        with _worktree_lock(common):
            _git(root, "worktree", "add", "--detach", "--quiet", str(path), sha)
        applied = False
        if patch:
            _apply(path, patch, sha)
            applied = True
        yield Workspace(path=path, patch_applied=applied)
    finally:
        _remove(root, common, path, parent)


def _apply(path: Path, patch: bytes, sha: str) -> None:
    try:
        _git(path, "apply", "--binary", "--whitespace=nowarn", "-", stdin=patch)
    except WorkspaceError as exc:
        raise WorkspaceError(f"the run's recorded diff does not apply on commit {sha[:12]}: {exc}") from None


def _remove(root: Path, common: Path, path: Path, parent: Path) -> None:
    # Each step on its own: a failed `worktree remove` (a file still open on some systems)
    # must not keep the directory or git's record of the worktree alive.
    try:
        with _worktree_lock(common):
            _git(root, "worktree", "remove", "--force", "--force", str(path))
    except WorkspaceError:
        pass
    shutil.rmtree(parent, ignore_errors=True)
    try:
        with _worktree_lock(common):
            _git(root, "worktree", "prune")
    except WorkspaceError:
        pass


def _common_dir(root: Path) -> Path:
    """The git directory that holds the repository's worktrees/ (the main .git, also when
    ``root`` is itself a linked worktree): what the lock is keyed by."""
    out = _git(root, "rev-parse", "--git-common-dir").strip()
    return (root / out).resolve()  # relative to root unless git printed an absolute path


@contextmanager
def _worktree_lock(common: Path) -> Iterator[None]:
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(common, threading.Lock())
    with lock:
        handle = None
        if fcntl is not None:  # None on Windows: the threads of this process are still serialised
            try:
                handle = open(common / LOCK_FILE_NAME, "a+b")
            except OSError:
                pass  # a read-only git directory: `worktree add` fails there anyway
        try:
            if handle is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            if handle is not None:
                handle.close()  # releases the flock


def _toplevel(path: Path) -> Path:
    if not path.is_dir():
        raise WorkspaceError(f"{path}: no such directory")
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except WorkspaceError as exc:
        raise WorkspaceError(f"{path}: not a git repository ({exc})") from None


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    try:
        out = run_git(cwd, *args, stdin=stdin, timeout=GIT_TIMEOUT_SECONDS, drop_env=_GIT_LOCATION_VARIABLES)
    except GitCaptureError as exc:
        raise WorkspaceError(exc.detail) from None
    return out.decode("utf-8", "surrogateescape")
