"""The command of an MLflow Projects entry point, built by MLflow's own project code.

``mlflow run`` builds the command with ``EntryPoint.compute_command``: each parameter value is
shell-quoted (``shlex.quote``) and put into the ``command`` template, and the result runs in a
shell. The same values are logged *after* quoting, so a run that got ``-P name=`` logged ``''``.
Rebuilding the command here, with MLflow's class, from the unquoted values gives the argv the
original process received; it is then split once and executed without a shell.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any


class ProjectCommandError(Exception):
    """The entry point's command cannot be built from what the run logged."""


def unquote_param(logged: str) -> str:
    """The value the user gave, from the value MLflow logged (``shlex.quote`` of it).

    A value is unquoted only where quoting the result gives back exactly what was logged: a
    run logged by an MLflow that did not quote (or a value that needed no quoting) is kept.
    """
    try:
        tokens = shlex.split(logged)
    except ValueError:
        return logged
    if not tokens:
        candidate = ""
    elif len(tokens) == 1:
        candidate = tokens[0]
    else:
        return logged
    return candidate if shlex.quote(candidate) == logged else logged


def join_continuations(command: str) -> str:
    """``command`` without the shell's line continuations: backslash-newline outside single
    quotes, which the shell removes before splitting (``shlex`` would keep a stray newline)."""
    out: list[str] = []
    quote = ""  # the open quote character, if any
    index = 0
    while index < len(command):
        char = command[index]
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        elif char == "\\" and quote != "'":
            following = command[index + 1 : index + 3]
            if following.startswith("\n") or following == "\r\n":
                index += 1 + (2 if following == "\r\n" else 1)
                continue
            out.append(command[index : index + 2])  # an escaped character stays escaped
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def entry_point_argv(name: str, entry: Mapping[str, Any], logged: Mapping[str, str]) -> tuple[str, ...]:
    """The argv of MLproject entry point ``name`` (its YAML mapping ``entry``) for a run that
    logged ``logged``: declared parameters only (MLflow logs each, defaults included)."""
    from mlflow.exceptions import MlflowException
    from mlflow.projects._project_spec import EntryPoint

    command = entry.get("command")
    declared = entry.get("parameters") or {}
    if not isinstance(command, str) or not isinstance(declared, Mapping):
        raise ProjectCommandError(f"entry point {name!r} needs a command string and a mapping of parameters")
    values = {str(key): unquote_param(logged[str(key)]) for key in declared if str(key) in logged}
    try:
        point = EntryPoint(name, dict(declared), join_continuations(command))
        # storage_dir=None: no download of `path` parameters, no resolution against our cwd;
        # the values stay what the run logged and resolve in the project's directory.
        text = point.compute_command(values, None)
    except (MlflowException, KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ProjectCommandError(f"entry point {name!r}: MLflow cannot build its command: {exc}") from None
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise ProjectCommandError(f"entry point {name!r}: cannot split its command: {exc}") from None
    if not argv:
        raise ProjectCommandError(f"entry point {name!r}: the command is empty")
    return argv
