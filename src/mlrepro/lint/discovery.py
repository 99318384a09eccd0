"""Which files ``mlrepro lint PATH...`` looks at.

Directories are walked for ``.py`` and ``.ipynb`` files, skipping ``exclude`` /
``extend-exclude`` and, inside a git work tree, what git ignores. Files named explicitly are
always linted (pre-commit hands us exactly the staged files) unless ``--force-exclude``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from mlrepro.config import Settings
from mlrepro.lint.source_file import relative_to, safe_resolve
from mlrepro.selection import PathMatcher

SUFFIXES = (".py", ".pyi", ".ipynb")


class DiscoveryError(Exception):
    """A path given on the command line does not exist or cannot be listed."""


def relative_posix(path: Path, root: Path) -> str:
    found = relative_to(path, root)
    return found if found is not None else path.as_posix()


def _git_visible(directory: Path) -> set[Path] | None:
    """Files git does not ignore below ``directory``, or None outside a work tree / without git."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    names = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    return {safe_resolve(directory / name) for name in names if name}


def _walk(directory: Path, excluded: PathMatcher, root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(directory):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not excluded.matches(relative_posix(here / d, root)))
        for name in sorted(files):
            if name.endswith(SUFFIXES):
                path = here / name
                if not excluded.matches(relative_posix(path, root)):
                    yield path


def discover(paths: Iterable[Path], settings: Settings) -> list[Path]:
    excluded = PathMatcher(settings.exclude + settings.extend_exclude)
    found: dict[Path, None] = {}
    for given in paths:
        # A symlink that leads nowhere (or in a loop) is still a file named to us: linting
        # reports why it cannot be read, next to the other files' findings.
        if not given.exists() and not given.is_symlink():
            raise DiscoveryError(f"{given}: no such file or directory")
        if given.is_dir():
            # Walked from its resolved path, every file found is already absolute and resolved
            # up to the links inside the tree: no resolving per file.
            base = safe_resolve(given)
            visible = _git_visible(base)
            for path in _walk(base, excluded, settings.root):
                if visible is None or path in visible or safe_resolve(path) in visible:
                    found.setdefault(path, None)
        elif not (settings.force_exclude and excluded.matches(relative_posix(given, settings.root))):
            found.setdefault(given, None)
    return list(found)
