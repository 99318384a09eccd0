"""The working tree a run starts from, as plain ``git`` subprocesses: fast, read-mostly.

Used by the capture plugin at every ``mlflow.start_run``, so each question costs one git
process and git does all the walking: ``status --porcelain=v2 --branch`` answers commit,
branch, changed and untracked paths at once; ``diff HEAD --binary`` gives the patch.
GitPython would add ~65 ms of import to every run start for nothing it does better here.

The user's repository is never modified, with one deliberate exception: a dirty tree too
large for tags is kept as a commit object under ``refs/mlrepro/<sha>`` (see ``snapshot``),
built through a temporary index so that the user's index and working tree stay untouched.
``--no-optional-locks`` keeps ``git status`` from refreshing (writing) the user's index
behind their back, which would also race with a git command they run at the same moment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Generous: a status on a cold cache of a very large repository takes seconds, yet a hung
# git (a stale network mount) must not hold a training run at its start forever.
TIMEOUT_SECONDS = 60.0
SNAPSHOT_REF_PREFIX = "refs/mlrepro/"
# Fixed identity and date: the same dirty tree on the same commit gives the same snapshot
# commit, so repeated runs of an unchanged tree share one ref instead of piling up new ones.
_SNAPSHOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "mlrepro",
    "GIT_AUTHOR_EMAIL": "capture@mlrepro.invalid",
    "GIT_AUTHOR_DATE": "@0 +0000",
    "GIT_COMMITTER_NAME": "mlrepro",
    "GIT_COMMITTER_EMAIL": "capture@mlrepro.invalid",
    "GIT_COMMITTER_DATE": "@0 +0000",
}
# User configuration must not change what the patch looks like: colour, external diff
# drivers, textconv filters, custom prefixes, `diff.relative` or submodule logs would give a
# patch that `git apply` rejects or that differs from one machine to the next.
_DIFF_OPTIONS = (
    "--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative",
    "--src-prefix=a/", "--dst-prefix=b/", "--submodule=short",
)
WORKTREE = "WORKTREE"  # GitTreeReader's name for the files on disk, in place of a commit
_DVC_METADATA = ("dvc.lock", "dvc.yaml")


class GitCaptureError(Exception):
    """git is missing, failed, or the repository cannot be read."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message  # git's stderr tail when git ran and failed


@dataclass(frozen=True)
class WorktreeStatus:
    root: Path
    commit: str | None  # None on a branch with no commit yet
    branch: str  # "HEAD" when detached, as `git rev-parse --abbrev-ref HEAD` says
    changed: tuple[str, ...]  # tracked paths that differ from HEAD (staged or not), repo-relative
    untracked: tuple[str, ...]  # not ignored; an untracked directory is one entry ending in "/"

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.untracked)


def find_worktree(start: Path) -> Path | None:
    """The top of the working tree holding ``start``, or None outside any repository.

    Looks for ``.git`` (a directory, or a file in worktrees and submodules) without starting
    git: "not a repository" is the common case for notebooks and scratch directories, and git
    reports it with the same exit code as a corrupt repository, which must not pass as "no
    repository". With ``GIT_DIR`` set, git decides, and a bad value is an error."""
    if os.environ.get("GIT_DIR"):
        out = run_git(start, "rev-parse", "--show-toplevel")
        top = out.decode("utf-8", "surrogateescape").strip()
        return Path(top) if top else None
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def run_git(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = TIMEOUT_SECONDS,
    drop_env: tuple[str, ...] = (),
) -> bytes:
    """Run one git command; its stdout. Every failure is a :class:`GitCaptureError` whose
    ``detail`` is git's own last words (callers that wrap it in their error keep them).
    ``drop_env``: variables not to inherit (``GIT_DIR`` and friends would point a command run
    in another checkout back at the user's repository)."""
    command = ["git", "--no-optional-locks", *args]
    inherited = {key: value for key, value in os.environ.items() if key not in drop_env}
    full_env = {**inherited, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        result = subprocess.run(command, cwd=cwd, env=full_env, input=stdin, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise GitCaptureError("git is not installed (no `git` on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitCaptureError(f"`git {args[0]}` took more than {timeout:.0f} s in {cwd}") from None
    except OSError as exc:
        raise GitCaptureError(f"cannot run git in {cwd}: {exc}") from None
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = "; ".join(lines[-3:]) if lines else f"`git {args[0]}` exited with {result.returncode}"
        last = lines[-1] if lines else f"exit {result.returncode}"
        raise GitCaptureError(f"`git {args[0]}` failed in {cwd}: {last}", detail)
    return result.stdout


def _text(raw: bytes) -> str:
    # Paths are bytes to git; surrogateescape keeps a non-UTF-8 name round-trippable.
    return raw.decode("utf-8", "surrogateescape")


def status(root: Path) -> WorktreeStatus:
    # --untracked-files=normal overrides a user's `status.showUntrackedFiles=no`, which would
    # otherwise hide untracked files and report a dirty tree as clean.
    out = run_git(root, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal", "--ignore-submodules=none")
    commit: str | None = None
    branch = "HEAD"
    changed: list[str] = []
    untracked: list[str] = []
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        entry = _text(fields[i])
        i += 1
        if not entry:
            continue
        kind = entry[0]
        if entry.startswith("# branch.oid "):
            oid = entry.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry.split(" ", 2)[2]
            branch = "HEAD" if head == "(detached)" else head
        elif kind == "1":  # 1 XY sub mH mI mW hH hI path
            changed.append(entry.split(" ", 8)[8])
        elif kind == "2":  # 2 XY sub mH mI mW hH hI Xscore path, then the original path as its own field
            changed.append(entry.split(" ", 9)[9])
            if i < len(fields):
                changed.append(_text(fields[i]))
                i += 1
        elif kind == "u":  # u XY sub m1 m2 m3 mW h1 h2 h3 path (unmerged)
            changed.append(entry.split(" ", 10)[10])
        elif kind == "?":
            untracked.append(entry[2:])
    return WorktreeStatus(root, commit, branch, tuple(changed), tuple(sorted(untracked)))


def diff_head(root: Path, untracked: Sequence[str] = ()) -> bytes:
    """``git diff HEAD --binary``: every change of tracked files, staged or not, as a patch
    that ``git apply`` restores on the commit (binary files included). ``untracked`` files
    (a new training script nobody added yet) are in it too, as new files: they are marked
    intent-to-add in a scratch copy of the index, so the user's index is not touched."""
    if not untracked:
        return run_git(root, "diff", *_DIFF_OPTIONS, "HEAD")
    with tempfile.TemporaryDirectory(prefix="mlrepro-index-") as scratch:
        index = Path(scratch) / "index"
        env = {"GIT_INDEX_FILE": str(index)}
        source = _index_path(root)
        if source.is_file():
            shutil.copyfile(source, index)
        else:
            run_git(root, "read-tree", "HEAD", env=env)
        run_git(root, "add", "--intent-to-add", "--", *untracked, env=env)
        return run_git(root, "diff", *_DIFF_OPTIONS, "HEAD", env=env)


def remote_contains(root: Path, commit: str) -> bool:
    """Does a remote-tracking branch hold ``commit``? As far as this clone last fetched."""
    out = run_git(root, "for-each-ref", "--contains", commit, "--count=1", "--format=%(refname)", "refs/remotes/")
    return bool(out.strip())


def _index_path(root: Path) -> Path:
    if os.environ.get("GIT_INDEX_FILE"):
        return Path(root, os.environ["GIT_INDEX_FILE"])
    return Path(root, _text(run_git(root, "rev-parse", "--git-path", "index")).strip())


def snapshot(root: Path, commit: str | None) -> str:
    """Keep the whole dirty tree (modified, deleted and untracked files, not the ignored
    ones) as a commit object whose parent is ``commit``, alive under
    ``refs/mlrepro/<sha>``; return that ref.

    ``git stash create`` would leave untracked files out; instead the tree is built in a
    temporary index (a copy of the user's, so git re-hashes only what changed) with
    ``git add -A``, ``git write-tree`` and ``git commit-tree``. The user's index, working
    tree, stash and branches are not touched; new objects and the ref are the only writes.
    Untracked files are hashed into the object store: a large one not covered by .gitignore
    makes this slow."""
    with tempfile.TemporaryDirectory(prefix="mlrepro-index-") as scratch:
        index = Path(scratch) / "index"
        env = {"GIT_INDEX_FILE": str(index)}
        source = _index_path(root)
        copied = False
        if source.is_file():
            shutil.copyfile(source, index)
            copied = True
        try:
            if not copied and commit is not None:
                run_git(root, "read-tree", commit, env=env)
            run_git(root, "add", "-A", "--", ":/", env=env)
        except GitCaptureError:
            if not copied:
                raise
            # A split index refers to a shared file beside the original: start from HEAD instead.
            index.unlink(missing_ok=True)
            if commit is not None:
                run_git(root, "read-tree", commit, env=env)
            run_git(root, "add", "-A", "--", ":/", env=env)
        tree = _text(run_git(root, "write-tree", env=env)).strip()
    message = "mlrepro: dirty working tree at run start\n\nKept by the mlrepro capture plugin (mlrepro.git.stash_ref).\n"
    parents = ["-p", commit] if commit is not None else []
    sha = _text(run_git(root, "commit-tree", tree, *parents, "-m", message, env=_SNAPSHOT_IDENTITY)).strip()
    ref = f"{SNAPSHOT_REF_PREFIX}{sha}"
    run_git(root, "update-ref", ref, sha)
    return ref


class GitTreeReader:
    """Files of a commit, or of the working tree (``WORKTREE``), with the three methods
    ``DvcRepo`` asks of a ``GitRepo``: ``resolve``, ``files_at``, ``file_at``.

    Reading a commit costs one ``ls-tree`` and one ``cat-file --batch`` for every DVC
    metadata file at once, instead of a git process per file; the working tree costs one
    ``ls-files`` (tracked and untracked, not ignored) and plain file reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, frozenset[str]] = {}
        self._blobs: dict[tuple[str, str], bytes] = {}

    def resolve(self, sha: str) -> str | None:
        if sha == WORKTREE:
            return WORKTREE
        try:
            return _text(run_git(self.root, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}")).strip() or None
        except GitCaptureError:
            return None

    def files_at(self, sha: str) -> frozenset[str]:
        if sha not in self._files:
            if sha == WORKTREE:
                out = run_git(self.root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
            else:
                out = run_git(self.root, "ls-tree", "-r", "--name-only", "-z", sha)
            self._files[sha] = frozenset(_text(name) for name in out.split(b"\0") if name)
            if sha != WORKTREE:
                self._prefetch(sha, sorted(self._files[sha]))
        return self._files[sha]

    def _prefetch(self, sha: str, files: list[str]) -> None:
        wanted = [path for path in files if _is_dvc_metadata(path)]
        if not wanted:
            return
        request = "".join(f"{sha}:{path}\n" for path in wanted).encode("utf-8", "surrogateescape")
        try:
            result = subprocess.run(
                ["git", "--no-optional-locks", "cat-file", "--batch"], cwd=self.root, input=request,
                capture_output=True, timeout=TIMEOUT_SECONDS, check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise GitCaptureError(f"`git cat-file` failed in {self.root}: {exc}") from None
        out, offset = result.stdout, 0
        for path in wanted:
            header_end = out.index(b"\n", offset)
            header = out[offset:header_end].split()
            offset = header_end + 1
            if len(header) == 3 and header[1] == b"blob":
                size = int(header[2])
                self._blobs[(sha, path)] = out[offset:offset + size]
                offset += size + 1  # the content is followed by a newline

    def file_at(self, sha: str, path: str) -> bytes | None:
        if sha == WORKTREE:
            try:
                return (self.root / path).read_bytes()
            except OSError:
                return None  # a tracked file deleted from the working tree
        if (sha, path) in self._blobs:
            return self._blobs[(sha, path)]
        try:
            return run_git(self.root, "show", f"{sha}:{path}")
        except GitCaptureError:
            return None


def _is_dvc_metadata(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (name.endswith(".dvc") and name != ".dvc") or name in _DVC_METADATA
