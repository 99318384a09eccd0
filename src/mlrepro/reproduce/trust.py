"""What a reproduction may execute without being told: the repository's code at the run's commit.

Tag values are not code the team reviewed: anyone who can write tags on a shared tracking server
can set ``mlrepro.command`` to ``["/bin/sh", "-c", ...]`` or a captured diff to any patch, and a
reproduction would run it wherever reproductions run (a CI runner, a nightly job with the
server's credentials). So by default a reproduction runs only

* an entry point the repository defines at the commit: its MLproject's entry point (``mlproject``)
  or its ``[tool.mlrepro.reproduce] command`` (``config``), with the run's values as argv items;
* a recorded command (``capture``) that is this interpreter running a ``.py`` file, or ``-m`` a
  module, that lies inside the checked-out worktree once symlinks are resolved, after any
  interpreter options (``-u``, ``-X utf8``). A ``-c`` program is never the repository's code.

Anything else needs ``--allow-command``; applying a recorded diff needs ``--apply-diff``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from mlrepro.reproduce.plan import ReproPlan

ALLOW_COMMAND = "--allow-command"
APPLY_DIFF = "--apply-diff"

# Options that take no value (``-c`` and ``-m`` end the options); the capture records them one
# per item, in an older form possibly clustered.
_FLAGS = re.compile(r"-[bBdEiIOPqsSuvx]+")
_OPTIONS_WITH_VALUE = frozenset({"-X", "-W", "--check-hash-based-pycs"})
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class Trust:
    """The options that widen what a reproduction executes (both off by default)."""

    allow_command: bool = False  # run a recorded command that is not a script of the repository
    apply_diff: bool = False  # apply the run's recorded uncommitted diff on the commit


def diff_refusal(plan: ReproPlan) -> str:
    return (
        "not executed: the run recorded uncommitted changes (a diff kept in its tags or files), which are not code of the "
        f"repository at commit {plan.commit[:12]}; pass {APPLY_DIFF} to apply and run them"
    )


def command_refusal(plan: ReproPlan, worktree: Path) -> str | None:
    """Why ``plan``'s command is not the repository's own code in ``worktree`` (None when it is)."""
    if plan.source != "capture":
        return None  # defined by the repository at the commit (MLproject, pyproject.toml)
    argv = plan.argv
    shown = " ".join(argv[:4]) + (" ..." if len(argv) > 4 else "")
    if argv[0] != sys.executable or len(argv) < 2:
        return f"the recorded command ({shown}) is not a Python script or module of the repository"
    root = Path(os.path.realpath(worktree))
    cwd = Path(os.path.realpath(worktree / plan.workdir))
    start = _after_options(argv)
    if start is None:
        return f"the recorded command ({shown}) is not a Python script or module of the repository"
    argv = (argv[0], *argv[start:])
    if argv[1] == "-m" and len(argv) > 2:
        module = argv[2]
        if not _MODULE.fullmatch(module):
            return f"the recorded module {module!r} is not a module name"
        base = cwd.joinpath(*module.split("."))
        candidates = [base.with_suffix(".py"), base / "__main__.py"]
        if not any(_inside(p, root) and p.is_file() for p in candidates):
            return f"the recorded module {module} is not a module of the repository at commit {plan.commit[:12]}"
        return None
    script = argv[1]
    if script.startswith("-") or not script.endswith(".py"):
        return f"the recorded command ({shown}) does not run a .py script or -m module of the repository"
    path = cwd / script
    if not (_inside(path, root) and path.is_file()):
        return f"the recorded script {script} is not a file inside the repository at commit {plan.commit[:12]}"
    return None


def _after_options(argv: tuple[str, ...]) -> int | None:
    """The index of what the interpreter runs (``-m``, ``-c`` or a script) after its options
    (``-u``, ``-X utf8``: they change how the code runs, not which code); None when that is
    missing."""
    index = 1
    while index < len(argv):
        item = argv[index]
        if item in _OPTIONS_WITH_VALUE:
            index += 2
        elif _FLAGS.fullmatch(item):
            index += 1
        else:
            return index
    return None


def _inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def allowed_note(reason: str) -> str:
    return f"{ALLOW_COMMAND}: {reason}; executed because the option was given"


def refused_note(reason: str) -> str:
    return f"not executed: {reason}; pass {ALLOW_COMMAND} to run it"
