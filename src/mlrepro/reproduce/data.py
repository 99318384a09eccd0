"""DVC-tracked data in a reproduction: restore the data the run's commit versions into the
temporary worktree, and check it is the data the run recorded.

A fresh ``git worktree`` holds the ``.dvc`` metadata but none of the data, and DVC's cache
lives under each worktree's own ``.dvc/cache``, empty here. The worktree is therefore
pointed at the user's cache (``dvc cache dir --local``, so nothing committed changes and the
setting goes with the worktree) and ``dvc checkout`` restores what the user already has
locally, without a network; only when that falls short is ``dvc pull`` tried.

The check compares the md5s the checked-out metadata names (the commit's, with any recorded
patch applied) with the ``mlrepro.dvc.<path>`` tags the capture recorded at run time. They
differ when the run trained on data that was ``dvc add``ed but not committed: the commit
cannot bring that data back, so the reproduction runs on other data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlrepro import tags as tag_names
from mlrepro.reproduce.workspace import _GIT_LOCATION_VARIABLES

DVC_TAG_PREFIX = tag_names.DVC_PREFIX


@dataclass
class DataCheck:
    # None: no DVC project in the worktree, nothing checked; the caller's verdict stands.
    match: bool | None = None
    notes: list[str] = field(default_factory=list)


def restore_and_check(workspace: Path, repo_root: Path, recorded: Mapping[str, str], timeout: float) -> DataCheck:
    """Restore the DVC data of the worktree at ``workspace`` (a checkout of ``repo_root``'s
    repository) and compare its md5s with the run's recorded ``mlrepro.dvc.*`` tags."""
    if not (workspace / ".dvc").is_dir():
        return DataCheck()
    check = DataCheck(match=True)
    restored = _restore(workspace, repo_root, timeout, check.notes)
    if not restored:
        check.match = False
    mismatches = _compare(workspace, recorded, check.notes)
    if mismatches:
        check.match = False
    return check


def _restore(workspace: Path, repo_root: Path, timeout: float, notes: list[str]) -> bool:
    cache = _user_cache(repo_root, timeout)
    if cache is not None:
        ok, message = _dvc(workspace, timeout, "cache", "dir", "--local", str(cache))
        if not ok:
            notes.append(f"DVC: cannot point the worktree at the cache {cache}: {message}")
    ok, checkout_message = _dvc(workspace, timeout, "checkout")
    if ok:
        return True
    # Not in the local cache: a configured remote may hold it.
    ok, pull_message = _dvc(workspace, timeout, "pull")
    if ok:
        notes.append("DVC: data missing from the local cache was pulled from the remote")
        return True
    notes.append(f"DVC: data not restored (not in the local cache, and `dvc pull` failed: {pull_message or checkout_message}); the re-execution ran without it")
    return False


def _user_cache(repo_root: Path, timeout: float) -> Path | None:
    """The cache the user's own checkout uses, as DVC resolves it (a relative ``cache.dir``
    in ``.dvc/config``, or one in ``config.local``, would not carry over to the worktree)."""
    from mlrepro.sources import git_capture

    root = git_capture.find_worktree(repo_root.resolve())
    if root is None or not (root / ".dvc").is_dir():
        return None  # DVC not set up in the user's checkout: the worktree's own cache is all there is
    ok, out = _dvc(root, timeout, "cache", "dir")
    line = out.strip().splitlines()[-1] if ok and out.strip() else ""
    return Path(line) if line else root / ".dvc" / "cache"


def _compare(workspace: Path, recorded: Mapping[str, str], notes: list[str]) -> list[str]:
    from mlrepro.sources import git_capture
    from mlrepro.sources.dvc_repo import DvcRepo

    wanted = {key[len(DVC_TAG_PREFIX):]: md5 for key, md5 in recorded.items() if key.startswith(DVC_TAG_PREFIX)}
    if not wanted:
        notes.append("DVC: the run recorded no md5 of its DVC data, so the restored data is unchecked")
        return []
    # The worktree's files, not the commit's: a recorded patch may have changed a .dvc file.
    outputs = DvcRepo(git_capture.GitTreeReader(workspace)).outputs_at(git_capture.WORKTREE)  # type: ignore[arg-type]
    mismatches: list[str] = []
    for path, md5 in sorted(wanted.items()):
        found = outputs.get(path)
        if found == md5:
            continue
        mismatches.append(path)
        if found is None:
            notes.append(f"DVC: {path} (md5 {md5} at the run) is not versioned at the run's commit, so it could not be restored")
        else:
            notes.append(f"DVC: {path} differs: the run trained on md5 {md5}, the commit versions md5 {found} (data added but not committed before the run?)")
    return mismatches


def _dvc(cwd: Path, timeout: float, *args: str) -> tuple[bool, str]:
    """(succeeded, stdout on success or the last error lines)."""
    # Inside a git hook GIT_DIR and friends are set and would send DVC's git calls to the
    # user's repository instead of the worktree.
    env = {key: value for key, value in os.environ.items() if key not in _GIT_LOCATION_VARIABLES}
    env["DVC_NO_ANALYTICS"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"`dvc {args[0]}` took more than {timeout:g} s"
    except OSError as exc:
        return False, f"cannot run dvc: {exc}"
    if done.returncode == 0:
        return True, done.stdout
    lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip() and not line.startswith("<https://")]
    return False, "; ".join(lines[-3:]) or f"`dvc {args[0]}` exited with {done.returncode}"
