"""The demo's team project on disk: its files, its git repository and its shared remote.

The directory is the repository's work tree, so that ``mlrepro audit`` run there finds the
code and the default store (``sqlite:///mlflow.db``) without options. What is not code (the
store, the artifacts, the report, the bare "origin") is git-ignored: an untracked file would
make every run's tree dirty.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# Written first into every demo directory: only a directory holding it is ever emptied.
MARKER = ".mlrepro-demo"
SKELETON = Path(__file__).with_name("skeleton")
# skeleton file -> project file; the suffix keeps the templates out of linting and imports.
FILES = {
    "train.py.tmpl": "train.py",
    "baseline.py.tmpl": "baseline.py",
    "register.py.tmpl": "register.py",
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
}
_GIT_TIMEOUT = 60


class DemoError(ValueError):
    """The demo cannot be built here (unusable directory, git missing, a step that failed)."""


def prepare_directory(path: Path) -> bool:
    """Make ``path`` an empty demo directory. True when a previous demo was replaced.

    A non-empty directory is emptied only when it holds the demo's marker: anything else may
    be someone's work."""
    if path.exists() and not path.is_dir():
        raise DemoError(f"{path} is a file, not a directory: choose another --dir")
    replaced = False
    if path.is_dir() and any(path.iterdir()):
        if not (path / MARKER).is_file():
            raise DemoError(f"{path} is not empty and is not a previous mlrepro demo: choose a new or empty directory with --dir")
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        replaced = True
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("Built by `mlrepro demo`; running it again here replaces everything in this directory.\n", encoding="utf-8")
    return replaced


# The demo's history has its own author, whatever the user's configuration says (or lacks),
# and a user's commit signing or hooks path must not change it or stop it.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Diagnostics Team", "GIT_AUTHOR_EMAIL": "diagnostics@example.com",
    "GIT_COMMITTER_NAME": "Diagnostics Team", "GIT_COMMITTER_EMAIL": "diagnostics@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "commit.gpgsign", "GIT_CONFIG_VALUE_0": "false",
    "GIT_CONFIG_KEY_1": "core.hooksPath", "GIT_CONFIG_VALUE_1": os.devnull,
}


@dataclass(frozen=True)
class DemoProject:
    root: Path
    origin: Path

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    def git(self, *args: str) -> str:
        """One git command in the project (GIT_DIR and friends from the caller's environment
        would point it at another repository: none is inherited)."""
        from mlrepro.sources.git_capture import GitCaptureError, run_git

        inherited = tuple(key for key in os.environ if key.startswith("GIT_"))
        try:
            out = run_git(self.root, *args, env=GIT_ENV, timeout=_GIT_TIMEOUT, drop_env=inherited)
        except GitCaptureError as exc:
            raise DemoError(f"{exc} (the demo builds a git repository)") from None
        return out.decode("utf-8", "replace").strip()

    def commit(self, message: str, push: bool = True) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        if push:
            self.git("push", "-q", "origin", "HEAD:main")
        return self.git("rev-parse", "HEAD")

    def edit(self, name: str, old: str, new: str) -> None:
        """Change one file of the work tree without committing (the tree becomes dirty)."""
        path = self.root / name
        text = path.read_text(encoding="utf-8")
        if old not in text:
            raise DemoError(f"the demo's {name} no longer contains {old!r}")
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def restore(self, name: str) -> None:
        self.git("checkout", "--", name)


def create_project(root: Path) -> DemoProject:
    """Lay out the files, commit them and push to a bare ``origin.git`` inside the directory."""
    for template, name in FILES.items():
        shutil.copyfile(SKELETON / template, root / name)
    project = DemoProject(root, root / "origin.git")
    project.git("init", "-q", "--bare", str(project.origin))
    project.git("init", "-q")
    project.git("symbolic-ref", "HEAD", "refs/heads/main")  # whatever init.defaultBranch says
    project.git("remote", "add", "origin", str(project.origin))
    project.commit("Tumour classifier: guarded training, a quick baseline, the team policy")
    project.git("branch", "-q", "--set-upstream-to=origin/main", "main")
    return project
