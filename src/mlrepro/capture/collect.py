"""The ``mlrepro.*`` tags that let a run be reproduced: the code state, the command, the
environment, the seeds, the data versions. Collected at run start by the MLflow plugin
(``provider.py``) and by ``tracked_run``.

Tags written (values are strings, each at most ``TAG_VALUE_LIMIT`` characters):

Git, when the code lives in a git working tree (absent otherwise). The repository is the one
holding the script (``sys.argv[0]``), as for MLflow's own ``mlflow.source.git.commit``, else
the one holding the working directory (notebooks, ``python -c``, console scripts and other
installed code: there MLflow's commit may be that of the wrong repository, ours is not).

- ``mlrepro.git.commit``: HEAD, the commit the diff applies to.
- ``mlrepro.git.branch``: the branch name, ``HEAD`` when detached (as ``git rev-parse
  --abbrev-ref HEAD`` prints it).
- ``mlrepro.git.dirty``: ``true`` when tracked files differ from HEAD or untracked files that
  are not ignored exist; ``false`` otherwise.
- ``mlrepro.git.remote_contains_commit``: ``true`` when a remote-tracking branch holds HEAD,
  as far as the clone last fetched.
- ``mlrepro.git.cwd``: the working directory relative to the repository root (``.`` at the
  root); with ``mlrepro.command`` it says how to start the run again.
- When dirty: ``mlrepro.git.untracked`` (JSON list of untracked paths; an untracked directory
  is one entry ending in ``/``), and the patch ``git diff HEAD --binary`` with the untracked
  files in it as new files (a new training script is the commonest dirty tree) as ``mlrepro.git.diff_sha256``
  (of the raw patch), ``mlrepro.git.diff_bytes`` and, zlib-compressed and base64-encoded,
  ``mlrepro.git.diff.0``, ``.1``, ... with their count in ``mlrepro.git.diff_parts``
  (``decode_diff`` gives the patch back). When the parts would exceed
  ``[tool.mlrepro.capture] max-diff-tags`` (default 10), or the untracked list does not fit
  in one tag, the whole dirty tree, untracked files included, is kept as a commit object
  under ``refs/mlrepro/<sha>`` and ``mlrepro.git.stash_ref`` names that ref (the diff parts
  are then left out; a listing cut to fit says so in ``mlrepro.git.untracked_count``).
  Nothing is cut silently.

Always: ``mlrepro.command`` (``sys.argv`` as JSON, the script relative to the repository
root; ``["python", *options, "-m", module, ...]`` for ``python -m``, likewise for ``-c``), ``mlrepro.cwd``, ``mlrepro.python``, ``mlrepro.platform``, ``mlrepro.cpu``,
``mlrepro.pip_freeze_sha256`` (sha256 of ``pip_freeze()``), ``mlrepro.pythonhashseed``,
``mlrepro.threads.{OMP,OPENBLAS,MKL}_NUM_THREADS`` (value or ``unset``),
``mlrepro.threadpool`` (when threadpoolctl is installed: the BLAS/OpenMP libraries loaded at
run start with their thread counts), ``mlrepro.run_by``, ``mlrepro.capture_version``, and
``mlrepro.seed`` when ``seed_everything`` ran before the run.

DVC, in a DVC project: ``mlrepro.dvc.<path>`` = md5 of each output, read from the committed
``*.dvc``/``dvc.lock`` files at HEAD, or from the working tree's when the tree is dirty (a
``dvc add`` not committed yet is what the run trained on; MLR604 then tells it apart from
the commit). Paths that cannot be a tag key are listed in ``mlrepro.dvc_unrecorded``.

A part that fails (git missing or broken, an unreadable config) does not stop the others: its
error is in ``mlrepro.capture_error``.

Costs at run start, per run: ``git status``, ``git diff HEAD`` (when dirty) and
``git for-each-ref --contains``; the pip freeze, the CPU model and the platform are read once
per process, since they cannot change within it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import platform
import re
import sys
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrepro import tags as tag_names

if TYPE_CHECKING:
    from mlrepro.sources.git_capture import WorktreeStatus

# MLflow's MAX_TAG_VAL_LENGTH (3.17; a test checks the installed version). A longer value is
# rejected, or cut silently when MLFLOW_TRUNCATE_LONG_VALUES is set: neither may happen here.
TAG_VALUE_LIMIT = 8000
# MLflow's MAX_ENTITY_KEY_LENGTH, and the characters it accepts in a tag key (POSIX).
TAG_KEY_LIMIT = 250
_TAG_KEY = re.compile(r"[/\w.\- :]*")
# Tags travel with every run that search_runs returns (the UI, every audit), so a run may
# carry a few diff parts, not hundreds: 10 parts are 80,000 characters, a compressed patch of
# some 250 kB of source. Larger dirty trees are kept as a commit object instead (0: always).
DEFAULT_MAX_DIFF_TAGS = 10

ERROR_TAG = tag_names.CAPTURE_ERROR
DIFF_PART_TAG = tag_names.GIT_DIFF_PART
DIFF_PARTS_TAG = tag_names.GIT_DIFF_PARTS
DIFF_SHA_TAG = tag_names.GIT_DIFF_SHA
STASH_TAG = tag_names.GIT_STASH
DVC_TAG_PREFIX = tag_names.DVC_PREFIX
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Written by seed_everything (mlrepro.capture.seeding.SEED_ENV).
SEED_ENV = "MLREPRO_SEED"


class CaptureError(Exception):
    """A captured value cannot be read back (a damaged or incomplete diff)."""


class CaptureWarning(UserWarning):
    """Part of the run context could not be captured; the run goes on without it."""


@dataclass(frozen=True)
class CaptureSettings:
    max_diff_tags: int = DEFAULT_MAX_DIFF_TAGS


def load_settings(start: Path) -> CaptureSettings:
    """``[tool.mlrepro.capture]`` of the nearest configured ``pyproject.toml`` above ``start``."""
    from mlrepro.config import ConfigError, find_config, load_table

    path = find_config(start)
    if path is None:
        return CaptureSettings()
    section = load_table(path).get("capture", {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: [tool.mlrepro.capture] must be a table")
    value = section.get("max-diff-tags", DEFAULT_MAX_DIFF_TAGS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{path}: [tool.mlrepro.capture] max-diff-tags must be a whole number >= 0, got {value!r}")
    return CaptureSettings(max_diff_tags=value)


def collect_tags(
    cwd: Path | None = None,
    settings: CaptureSettings | None = None,
    argv: Sequence[str] | None = None,
) -> dict[str, str]:
    """Every ``mlrepro.*`` tag for a run starting now in ``cwd`` (default: the working
    directory) with command line ``argv`` (default: ``sys.argv``). Never raises for a part
    that cannot be captured: see ``mlrepro.capture_error``."""
    cwd = (cwd or Path.cwd()).resolve()
    given = argv is not None
    argv = list(getattr(sys, "argv", []) if argv is None else argv)  # embedded interpreters may have none
    command = argv if given else invocation(argv, getattr(sys, "orig_argv", None))
    tags: dict[str, str] = {}
    errors: list[str] = []  # one broken part must not cost the others
    root: Path | None = None
    try:
        root = repository_root(cwd, argv)
    except Exception as exc:
        errors.append(_error("git", exc))
    try:
        tags.update(_environment_tags(cwd, command, root))
    except Exception as exc:
        errors.append(_error("environment", exc))
    if root is not None:
        if settings is None:
            try:
                # The nearest pyproject to where the run starts: in a monorepo, the project's own.
                settings = load_settings(cwd if cwd.is_relative_to(root.resolve()) else root)
            except Exception as exc:
                errors.append(_error("config", exc))
                settings = CaptureSettings()
        state: WorktreeStatus | None = None
        try:
            state, git_tags = _git_tags(root, cwd, settings)
            tags.update(git_tags)
        except Exception as exc:
            errors.append(_error("git", exc))
        if state is not None:  # without a status git is broken here, and DVC's metadata is read through git
            try:
                tags.update(_dvc_tags(root, state))
            except Exception as exc:
                errors.append(_error("dvc", exc))
    if errors:
        tags[ERROR_TAG] = _fit("; ".join(errors))
    return tags


def _error(part: str, exc: Exception) -> str:
    from mlrepro.redaction import redact

    return redact(f"{part}: {type(exc).__name__}: {exc}")  # a git remote URL may carry a token


def uncommitted_patch(cwd: Path | None = None) -> bytes | None:
    """``git diff HEAD --binary`` of the repository holding ``cwd``, untracked files included
    as new files: b"" for a clean tree, None outside a repository or before the first commit."""
    from mlrepro.sources import git_capture

    root = git_capture.find_worktree((cwd or Path.cwd()).resolve())
    if root is None:
        return None
    state = git_capture.status(root)
    if state.commit is None:
        return None
    return git_capture.diff_head(root, state.untracked) if state.dirty else b""


@functools.lru_cache(maxsize=1)
def pip_freeze() -> str:
    """Installed distributions as sorted ``name==version`` lines (names normalised as pip
    does), read through ``importlib.metadata``: no pip subprocess. When a name is installed
    twice on ``sys.path``, the first (the one Python imports) wins. Cached: a process does
    not change its own environment in a way that matters to a run it is starting."""
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = _name_version(dist)
        if not name or not version:
            continue  # a broken .dist-info without metadata
        normal = re.sub(r"[-_.]+", "-", name).lower()
        found.setdefault(normal, version)
    return "".join(f"{name}=={version}\n" for name, version in sorted(found.items()))


def _name_version(dist: Any) -> tuple[str | None, str | None]:
    """Name and version from the metadata's leading headers. ``dist.metadata`` runs the
    e-mail parser over the whole file, long description included: ~1 ms a distribution,
    a quarter of a second at the first run start of a process in a typical ML environment."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    name = version = None
    for line in (text or "").splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        key, _, value = line.partition(":")
        if key == "Name" and name is None:
            name = value.strip()
        elif key == "Version" and version is None:
            version = value.strip()
    if name is None or version is None:
        return dist.metadata["Name"], dist.version
    return name, version


def decode_diff(tags: Mapping[str, str]) -> bytes | None:
    """The patch stored by ``collect_tags`` in the ``mlrepro.git.diff.*`` tags, checked
    against its sha256; None when the tags hold none (clean tree, or kept as a commit)."""
    count = tags.get(DIFF_PARTS_TAG)
    if count is None:
        return None
    try:
        parts = [tags[DIFF_PART_TAG.format(i)] for i in range(int(count))]
        data = zlib.decompress(base64.b64decode("".join(parts), validate=True))
    except (KeyError, ValueError, zlib.error) as exc:
        raise CaptureError(f"the diff stored in the run's tags is damaged or incomplete: {exc}") from None
    expected = tags.get(DIFF_SHA_TAG)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise CaptureError("the diff stored in the run's tags does not match its sha256")
    return data


# --- environment ---------------------------------------------------------------------------


def _environment_tags(cwd: Path, argv: list[str], root: Path | None) -> dict[str, str]:
    import mlrepro

    tags = {
        tag_names.COMMAND: _command(argv, cwd, root),
        tag_names.CWD: str(cwd),
        tag_names.PYTHON: f"{platform.python_implementation()} {platform.python_version()}",
        tag_names.PLATFORM: _platform(),
        tag_names.CPU: _cpu_model(),
        tag_names.FREEZE: hashlib.sha256(pip_freeze().encode("utf-8")).hexdigest(),
        tag_names.HASH_SEED: _hash_seed(),
        tag_names.RUN_BY: _user(),
        tag_names.CAPTURE_VERSION: mlrepro.__version__,
    }
    for name in THREAD_VARIABLES:
        tags[f"mlrepro.threads.{name}"] = os.environ.get(name, "unset")
    threadpool = _threadpool()
    if threadpool is not None:
        tags["mlrepro.threadpool"] = threadpool
    seed = os.environ.get(SEED_ENV, "").strip()
    if seed:
        tags["mlrepro.seed"] = seed
    return {key: _fit(value) if key != "mlrepro.command" else value for key, value in tags.items()}


# Interpreter options that take a value, attached (``-Xutf8``) or as the next item (``-X utf8``).
_LETTERS_WITH_VALUE = frozenset("XW")
_LONG_OPTIONS_WITH_VALUE = frozenset({"--check-hash-based-pycs"})


def invocation(argv: list[str], orig_argv: Sequence[str] | None) -> list[str]:
    """The command to record: ``argv``, except for ``python [options] -m pkg.train ...``, where
    ``argv[0]`` is the module's file path (which runs nothing as a script once the module imports
    its package relatively), and ``python [options] -c CODE ...``, where it is ``-c``: then
    ``["python", *options, "-m", "pkg.train", ...]`` with each option an item of its own
    (``-um`` is ``-u``, ``-m``; ``-Xutf8`` is ``-X``, ``utf8``). Only when ``argv`` is still what
    Python made of that command line (code may have replaced it)."""
    if not orig_argv or not argv:
        return argv
    parsed = _interpreter_options(list(orig_argv))
    if parsed is None:
        return argv  # a script: argv says it
    options, mode, value, rest = parsed
    if mode == "-m" and _runs_module(argv, value, rest):
        return ["python", *options, "-m", value, *rest]
    if mode == "-c" and argv == ["-c", *rest]:
        return ["python", *options, "-c", value, *rest]
    return argv


def _interpreter_options(items: list[str]) -> tuple[list[str], str, str, list[str]] | None:
    """``(options, "-m" | "-c", its value, the program's arguments)`` from the interpreter's
    own command line; None when it runs a script (or cannot be read)."""
    options: list[str] = []
    index = 1
    while index < len(items):
        item = items[index]
        if item in _LONG_OPTIONS_WITH_VALUE and index + 1 < len(items):
            options += [item, items[index + 1]]
            index += 2
            continue
        if item == "-" or not item.startswith("-") or item.startswith("--"):
            return None
        index += 1
        letters = item[1:]
        for position, letter in enumerate(letters):
            if letter in "mc" or letter in _LETTERS_WITH_VALUE:
                attached = letters[position + 1 :]
                if attached:
                    value = attached
                elif index < len(items):
                    value = items[index]
                    index += 1
                else:
                    return None
                if letter in "mc":
                    return options, f"-{letter}", value, items[index:]
                options += [f"-{letter}", value]
                break
            options.append(f"-{letter}")
    return None


def _runs_module(argv: list[str], module: str, rest: list[str]) -> bool:
    """``argv`` is Python's own for ``-m module rest...``: the module's file, then ``rest``."""
    path = Path(argv[0]).as_posix()
    stem = module.replace(".", "/")
    return argv[1:] == rest and (path.endswith(f"/{stem}.py") or path.endswith(f"/{stem}/__main__.py"))


def _command(argv: list[str], cwd: Path, root: Path | None) -> str:
    """argv as JSON, the script relative to the repository root (the same command then names
    the same file in any checkout). Arguments are kept whole: when they do not fit in a tag,
    the leading ones that do are recorded and a last item ``... N arguments in all`` says so."""
    args = list(argv)
    # ["python", ...] is invocation()'s -m / -c form: no script to make relative.
    if args and root is not None and args[0] not in ("", "-c", "-m", "python"):
        script = Path(args[0]) if Path(args[0]).is_absolute() else cwd / args[0]
        try:
            args[0] = script.resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            pass  # outside the repository (an installed entry point, a notebook kernel)
    text = json.dumps(args)
    if len(text) <= TAG_VALUE_LIMIT:
        return text
    kept: list[str] = []
    for arg in args:
        if len(json.dumps([*kept, arg, f"... {len(args)} arguments in all"])) > TAG_VALUE_LIMIT:
            break
        kept.append(arg)
    return json.dumps([*kept, f"... {len(args)} arguments in all"])


@functools.lru_cache(maxsize=1)
def _platform() -> str:
    return platform.platform()


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                # x86 says "model name"; arm64 kernels may say only "CPU part" (no name at all).
                if key.strip() in ("model name", "Hardware", "cpu model", "Processor") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@functools.lru_cache(maxsize=1)
def _hash_seed() -> str:
    """The hash seed in effect for this process, fixed when the interpreter started. Not
    ``os.environ``: seed_everything sets PYTHONHASHSEED there for child processes, which does
    not change this process's hashing. Linux keeps the starting environment in
    /proc/self/environ; elsewhere os.environ is the best guess."""
    if sys.flags.hash_randomization == 0:
        return "0"
    if sys.flags.ignore_environment:
        return "random"  # -E / -I: the variable was not read
    value: str | None
    try:
        with open("/proc/self/environ", "rb") as handle:
            initial = dict(
                entry.split(b"=", 1) for entry in handle.read().split(b"\0") if b"=" in entry
            )
        raw = initial.get(b"PYTHONHASHSEED")
        value = raw.decode("ascii", "replace") if raw is not None else None
    except OSError:
        value = os.environ.get("PYTHONHASHSEED")
    value = (value or "").strip()
    return value if value and value != "random" else "random"


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (containers running as a bare uid)
        for name in ("USER", "LOGNAME", "USERNAME"):
            if os.environ.get(name):
                return os.environ[name]
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _threadpool() -> str | None:
    """BLAS and OpenMP libraries loaded in this process, with their thread counts: thread
    count changes the last bits of BLAS results. Only libraries already loaded show up
    (threadpoolctl inspects the process), which at run start are those training uses."""
    import importlib.util

    if "threadpoolctl" not in sys.modules and importlib.util.find_spec("threadpoolctl") is None:
        return None
    import threadpoolctl

    summary = [
        {key: info.get(key) for key in ("internal_api", "num_threads", "version")}
        for info in threadpoolctl.threadpool_info()
    ]
    text = json.dumps(summary)
    while len(text) > TAG_VALUE_LIMIT and summary:
        summary.pop()
        text = json.dumps([*summary, {"truncated": True}])
    return text


# --- git -----------------------------------------------------------------------------------


def repository_root(cwd: Path, argv: list[str]) -> Path | None:
    from mlrepro.sources import git_capture

    if argv and argv[0] not in ("", "-c", "-m"):
        script = Path(argv[0]) if Path(argv[0]).is_absolute() else cwd / argv[0]
        if script.is_file() and not os.environ.get("GIT_DIR") and not _installed_code(script):
            root = git_capture.find_worktree(script.parent)
            if root is not None:
                return root
    return git_capture.find_worktree(cwd)


def _installed_code(script: Path) -> bool:
    """A console script, ``python -m pytest``, a notebook kernel: argv[0] is installed code,
    whose directory says nothing about the project (and may sit in a git checkout of its own,
    as pyenv's interpreters do). The working directory names the project then."""
    path = script.resolve()
    if {"site-packages", "dist-packages"} & set(path.parts):
        return True
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    return any(path.is_relative_to(Path(prefix).resolve()) for prefix in prefixes)


def _git_tags(root: Path, cwd: Path, settings: CaptureSettings) -> tuple[WorktreeStatus, dict[str, str]]:
    from mlrepro.sources import git_capture

    state = git_capture.status(root)
    tags = {
        tag_names.GIT_BRANCH: state.branch,
        tag_names.GIT_DIRTY: "true" if state.dirty else "false",
    }
    try:
        tags["mlrepro.git.cwd"] = cwd.relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        pass
    if state.commit is not None:
        tags["mlrepro.git.commit"] = state.commit
        tags["mlrepro.git.remote_contains_commit"] = "true" if git_capture.remote_contains(root, state.commit) else "false"
    if not state.dirty:
        return state, tags

    snapshot_needed = False
    untracked = json.dumps(list(state.untracked))
    if len(untracked) > TAG_VALUE_LIMIT:
        # The full list lives in the snapshot commit; the tag keeps what fits.
        snapshot_needed = True
        kept = list(state.untracked)
        while kept and len(json.dumps(kept)) > TAG_VALUE_LIMIT:
            kept = kept[: len(kept) * 9 // 10]
        untracked = json.dumps(kept)
        tags["mlrepro.git.untracked_count"] = str(len(state.untracked))
    tags["mlrepro.git.untracked"] = untracked

    if state.commit is None:
        snapshot_needed = True  # no HEAD to diff against
    else:
        patch = git_capture.diff_head(root, state.untracked)
        tags[DIFF_SHA_TAG] = hashlib.sha256(patch).hexdigest()
        tags["mlrepro.git.diff_bytes"] = str(len(patch))
        parts = _split(base64.b64encode(zlib.compress(patch, 6)).decode("ascii"))
        if len(parts) > settings.max_diff_tags:
            snapshot_needed = True
        else:
            tags[DIFF_PARTS_TAG] = str(len(parts))
            tags.update({DIFF_PART_TAG.format(i): text for i, text in enumerate(parts)})
    if snapshot_needed:
        tags[STASH_TAG] = git_capture.snapshot(root, state.commit)
    return state, tags


def _split(text: str) -> list[str]:
    return [text[i:i + TAG_VALUE_LIMIT] for i in range(0, len(text), TAG_VALUE_LIMIT)]


# --- dvc -----------------------------------------------------------------------------------

_dvc_at_commit: dict[tuple[str, str], dict[str, str]] = {}


def _dvc_tags(root: Path, state: WorktreeStatus) -> dict[str, str]:
    if not (root / ".dvc").is_dir():
        return {}
    from mlrepro.sources import git_capture
    from mlrepro.sources.dvc_repo import DvcRepo

    # DvcRepo asks a GitRepo for resolve/files_at/file_at; GitTreeReader answers the same
    # three with git subprocesses (no GitPython import at run start), and for the working tree.
    reader = git_capture.GitTreeReader(root)
    if state.commit is None or state.dirty:
        outputs = DvcRepo(reader).outputs_at(git_capture.WORKTREE)  # type: ignore[arg-type]
    else:
        key = (str(root), state.commit)
        if key not in _dvc_at_commit:
            _dvc_at_commit[key] = DvcRepo(reader).outputs_at(state.commit)  # type: ignore[arg-type]
        outputs = _dvc_at_commit[key]
    tags: dict[str, str] = {}
    unrecorded: list[str] = []
    for path, md5 in sorted(outputs.items()):
        key = DVC_TAG_PREFIX + path
        if _valid_key(key) and len(md5) <= TAG_VALUE_LIMIT:
            tags[key] = md5
        else:
            unrecorded.append(path)
    if unrecorded:
        tags["mlrepro.dvc_unrecorded"] = _fit(json.dumps(unrecorded))
    return tags


def _valid_key(key: str) -> bool:
    import posixpath

    return (
        len(key) <= TAG_KEY_LIMIT
        and _TAG_KEY.fullmatch(key) is not None
        and posixpath.normpath(key) == key
    )


def _fit(text: str) -> str:
    """Values that are descriptions, not data to restore, may be shortened to fit a tag."""
    return text if len(text) <= TAG_VALUE_LIMIT else text[: TAG_VALUE_LIMIT - 1] + "…"
