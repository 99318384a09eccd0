"""checkout() on real repositories: the commit's files, the recorded patch, and nothing left
behind in the user's repository on any way out."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from audit_helpers import Repo, git, init_repo

from mlrepro.capture.collect import uncommitted_patch
from mlrepro.reproduce.workspace import Workspace, WorkspaceError, checkout


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where mkdtemp puts worktrees during the test, so that leftovers can be seen."""
    directory = tmp_path / "scratch"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def user_state(repo: Repo) -> tuple[str, str, str]:
    return (
        git(repo.path, "status", "--porcelain", "--untracked-files=all"),
        git(repo.path, "rev-parse", "HEAD"),
        git(repo.path, "symbolic-ref", "HEAD"),
    )


def assert_nothing_left(repo: Repo, scratch: Path) -> None:
    listing = git(repo.path, "worktree", "list", "--porcelain")
    assert listing.count("worktree ") == 1, listing
    assert list(scratch.iterdir()) == []


def two_commits(tmp_path: Path) -> tuple[Repo, str]:
    repo = init_repo(tmp_path, {"train.py": "VERSION = 1\n", "data/old.csv": "a\n"})
    old = git(repo.path, "rev-parse", "HEAD")
    git(repo.path, "rm", "-q", "data/old.csv")
    repo.commit({"train.py": "VERSION = 2\n", "new.py": "N = 1\n"}, "second")
    # The user's own uncommitted work, which must survive untouched.
    (repo.path / "train.py").write_text("VERSION = 3  # editing\n")
    (repo.path / "notes.txt").write_text("mine\n")
    return repo, old


def test_checkout_of_an_older_commit_outside_the_repository(tmp_path: Path, scratch: Path) -> None:
    repo, old = two_commits(tmp_path)
    before = user_state(repo)
    with checkout(repo.path, old, None) as space:
        assert isinstance(space, Workspace)
        assert space.patch_applied is False
        assert not space.path.resolve().is_relative_to(repo.path.resolve())
        assert (space.path / "train.py").read_text() == "VERSION = 1\n"
        assert (space.path / "data" / "old.csv").read_text() == "a\n"
        assert not (space.path / "new.py").exists()
        assert git(space.path, "rev-parse", "HEAD") == old
        assert user_state(repo) == before
        path = space.path
    assert not path.exists()
    assert user_state(repo) == before
    assert (repo.path / "train.py").read_text() == "VERSION = 3  # editing\n"
    assert_nothing_left(repo, scratch)


def test_patch_is_applied_with_new_files(tmp_path: Path, scratch: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": "LR = 0.1\n", "model.bin": "\x00\x01"})
    head = git(repo.path, "rev-parse", "HEAD")
    (repo.path / "train.py").write_text("LR = 0.05\n")
    (repo.path / "features.py").write_text("FEATURES = ['a']\n")
    (repo.path / "model.bin").write_bytes(b"\x00\x02\xff")
    patch = uncommitted_patch(repo.path)
    assert patch
    before = user_state(repo)
    with checkout(repo.path, head, patch) as space:
        assert space.patch_applied is True
        assert (space.path / "train.py").read_text() == "LR = 0.05\n"
        assert (space.path / "features.py").read_text() == "FEATURES = ['a']\n"
        assert (space.path / "model.bin").read_bytes() == b"\x00\x02\xff"
    assert user_state(repo) == before
    assert_nothing_left(repo, scratch)


def test_empty_patch_is_not_applied(tmp_path: Path, scratch: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": "x = 1\n"})
    with checkout(repo.path, "HEAD", b"") as space:
        assert space.patch_applied is False
    assert_nothing_left(repo, scratch)


def test_patch_that_does_not_apply(tmp_path: Path, scratch: Path) -> None:
    repo, old = two_commits(tmp_path)
    patch = uncommitted_patch(repo.path)  # made against the second commit's train.py
    before = user_state(repo)
    with pytest.raises(WorkspaceError, match="does not apply") as info, checkout(repo.path, old, patch):
        pytest.fail("the block must not run")
    assert "train.py" in str(info.value)
    assert user_state(repo) == before
    assert_nothing_left(repo, scratch)


def test_missing_commit(tmp_path: Path, scratch: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": "x = 1\n"})
    with pytest.raises(WorkspaceError, match="not in the repository"), checkout(repo.path, "1" * 40, None):
        pytest.fail("the block must not run")
    with pytest.raises(WorkspaceError), checkout(repo.path, "--orphan", None):
        pytest.fail("the block must not run")
    assert_nothing_left(repo, scratch)


@pytest.mark.parametrize("error", [RuntimeError("training crashed"), KeyboardInterrupt()])
def test_removed_when_the_block_raises(tmp_path: Path, scratch: Path, error: BaseException) -> None:
    repo, old = two_commits(tmp_path)
    before = user_state(repo)
    seen: list[Path] = []
    with pytest.raises(type(error)), checkout(repo.path, old, None) as space:
        seen.append(space.path)
        (space.path / "output.txt").write_text("written by the run\n")  # a dirty worktree too
        raise error
    assert seen and not seen[0].exists()
    assert user_state(repo) == before
    assert_nothing_left(repo, scratch)


def test_from_a_subdirectory_of_the_repository(tmp_path: Path, scratch: Path) -> None:
    repo, old = two_commits(tmp_path)
    (repo.path / "logs").mkdir()
    with checkout(repo.path / "logs", old, None) as space:
        assert (space.path / "train.py").read_text() == "VERSION = 1\n"
    assert_nothing_left(repo, scratch)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a git repository"), checkout(tmp_path, "HEAD", None):
        pytest.fail("the block must not run")


# Checkouts from another process (`mlrepro reproduce` run twice at once, or the nightly job
# beside a user's command), each with a few threads (`audit --reproduce --jobs N`).
CHECKOUTS = """\
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlrepro.reproduce.workspace import checkout

def one(_):
    try:
        with checkout(Path(sys.argv[1]), sys.argv[2], None) as space:
            return "" if (space.path / "train.py").read_text() == "VERSION = 1\\n" else f"{space.path}: not the commit"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

print("ready", flush=True)
sys.stdin.readline()  # all at once, when told
with ThreadPoolExecutor(4) as pool:
    for failure in pool.map(one, range(int(sys.argv[3]))):
        if failure:
            print(failure, flush=True)
"""


def test_many_concurrent_checkouts_of_one_repository(tmp_path: Path, scratch: Path) -> None:
    """git's worktree bookkeeping (.git/worktrees/*) is not safe against concurrent `worktree
    add`, `remove` and `prune` on one repository; without the lock in workspace.py about one
    checkout in ten fails here ("failed to read .git/worktrees/project3/commondir")."""
    import os
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import mlrepro

    repo, old = two_commits(tmp_path)
    repo.commit({f"pkg/module{i}.py": f"VALUE = {i}\n" * 50 for i in range(50)}, "more files: a longer checkout")
    (repo.path / "train.py").write_text("VERSION = 3  # editing\n")
    before = user_state(repo)
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(Path(mlrepro.__file__).parents[1])}
    children = [
        subprocess.Popen([sys.executable, "-c", CHECKOUTS, str(repo.path), old, "12"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]

    def one(_: int) -> str:
        try:
            with checkout(repo.path, old, None) as space:
                return "" if (space.path / "train.py").read_text() == "VERSION = 1\n" else f"{space.path}: not the commit"
        except WorkspaceError as exc:
            return f"WorkspaceError: {exc}"

    try:
        assert [child.stdout.readline() for child in children] == ["ready\n"] * 3  # type: ignore[union-attr]
        for child in children:
            child.stdin.write("go\n")  # type: ignore[union-attr]
            child.stdin.flush()  # type: ignore[union-attr]
        with ThreadPoolExecutor(8) as pool:
            failures = [f for f in pool.map(one, range(24)) if f]
        outputs = [child.communicate(timeout=600)[0] for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    failures += [line for out in outputs for line in out.splitlines()]
    assert failures == [], f"{len(failures)} of 60 checkouts failed: {failures[:5]}"
    assert [child.returncode for child in children] == [0, 0, 0]
    assert user_state(repo) == before
    assert_nothing_left(repo, scratch)
    [main] = git(repo.path, "worktree", "list").splitlines()
    assert main.startswith(f"{repo.path} ")
