"""The git repository the runs' code came from, through GitPython. Read-only, cached.

Answers the questions the provenance checks ask about a recorded commit: does it exist
here, was it ever pushed (reachable from a remote-tracking branch), which files does its
tree hold.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any


class GitRepoError(Exception):
    """The path is not a git repository, or git cannot answer."""


class GitRepo:
    def __init__(self, repo: Any) -> None:
        self._repo = repo
        self.root = Path(repo.working_tree_dir or repo.git_dir).resolve()
        self._remote_commits: set[str] | None = None

    @classmethod
    def open(cls, path: Path, search_parent_directories: bool = True) -> GitRepo:
        try:
            import git
        except ImportError as exc:  # pragma: no cover - the audit extra installs it
            raise GitRepoError("GitPython is not installed: pip install 'mlrepro[git]'") from exc
        try:
            return cls(git.Repo(path, search_parent_directories=search_parent_directories))
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise GitRepoError(f"{path}: not a git repository") from None
        except git.GitError as exc:
            raise GitRepoError(f"{path}: {exc}") from None

    @functools.lru_cache(maxsize=4096)
    def commit_exists(self, sha: str) -> bool:
        try:
            return self._repo.git.cat_file("-t", sha).strip() == "commit"
        except Exception:
            return False

    def _remote_reachable(self) -> set[str]:
        # One rev-list over every remote-tracking branch, instead of `branch -r --contains`
        # per commit: a nightly audit asks about thousands of runs and a few hundred commits.
        if self._remote_commits is None:
            if not list(self._repo.remotes):
                self._remote_commits = set()
            else:
                out = self._repo.git.rev_list("--remotes")
                self._remote_commits = set(out.split())
        return self._remote_commits

    def has_remote(self) -> bool:
        return bool(list(self._repo.remotes))

    def remote_urls(self) -> tuple[str, ...]:
        """Every URL of every remote (fetch and push), as configured."""
        urls: list[str] = []
        for remote in self._repo.remotes:
            try:
                urls.extend(remote.urls)
            except Exception:
                continue
        return tuple(urls)

    @functools.cached_property
    def shallow(self) -> bool:
        """A shallow clone (CI checkouts default to depth 1) lacks every older commit."""
        try:
            return self._repo.git.rev_parse("--is-shallow-repository").strip() == "true"
        except Exception:
            return False

    def on_remote(self, sha: str) -> bool | None:
        if not self.has_remote():
            return None
        full = self.resolve(sha)
        return full is not None and full in self._remote_reachable()

    @functools.lru_cache(maxsize=4096)
    def resolve(self, sha: str) -> str | None:
        try:
            return self._repo.git.rev_parse("--verify", "--quiet", f"{sha}^{{commit}}").strip() or None
        except Exception:
            return None

    @functools.lru_cache(maxsize=256)
    def _tree_files(self, sha: str) -> frozenset[str]:
        try:
            return frozenset(self._repo.git.ls_tree("-r", "--name-only", "-z", sha).split("\0")) - {""}
        except Exception:
            return frozenset()

    def files_at(self, sha: str) -> frozenset[str]:
        """Every file path in the commit's tree (empty when the commit is unknown)."""
        return self._tree_files(sha)

    def tracked_at(self, sha: str, path: str) -> bool:
        files = self._tree_files(sha)
        path = path.strip("/")
        return path in files or any(f.startswith(path + "/") for f in files)

    def file_at(self, sha: str, path: str) -> bytes | None:
        try:
            return self._repo.git.show(f"{sha}:{path}", stdout_as_string=False)  # type: ignore[no-any-return]
        except Exception:
            return None


def find_work_tree(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``.git`` (a directory, or a file in
    worktrees and submodules), found without importing GitPython."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


class LazyGitRepo:
    """A :class:`GitRepo` opened on first use. An audit whose runs never ask about code (an
    incremental audit of a few runs, runs without commits) does not pay for GitPython."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._repo: GitRepo | None = None

    def __getattr__(self, name: str) -> Any:
        if self._repo is None:
            self._repo = GitRepo.open(self.root, search_parent_directories=False)
        return getattr(self._repo, name)
