"""Run a reproduction's command as a subprocess that cannot outlive its timeout.

The command runs in a session (and so a process group) of its own, so a timeout or Ctrl-C can
take down everything it started -- data loaders, joblib workers, a shell script's children --
rather than only the process we spawned. It never goes through a shell: argv items come from
recorded tags and parameters, and a value such as ``; rm -rf ~`` must stay one literal item.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mlrepro.redaction import redact
from mlrepro.reproduce import interrupt

TAIL_LINES = 60
TAIL_BYTES = 20_000
KILL_GRACE_S = 5.0
POLL_S = 0.2  # how soon a wait notices a signal's request to stop

# Variables through which MLflow picks the run/experiment to log into. Inherited from the shell
# that runs `mlrepro reproduce` (e.g. inside `mlflow run`), they would make the training log
# into someone else's run instead of the one pre-created for the reproduction.
MLFLOW_RUN_SELECTION_VARS = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")
# Likewise for W&B: a re-execution must not resume or fork a run of the calling shell.
WANDB_RUN_SELECTION_VARS = ("WANDB_RUN_ID", "WANDB_RESUME", "WANDB_RESUME_FROM", "WANDB_FORK_FROM")


@dataclass
class Execution:
    returncode: int | None  # None when the command timed out (its own exit status is our kill)
    timed_out: bool
    log_tail: str  # last lines of stdout+stderr combined
    duration_s: float


def child_env(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """The complete environment for the child: ``base`` minus MLflow run selection, plus ``overrides``.

    MLflow's run-selection variables are dropped from ``base`` (see
    :data:`MLFLOW_RUN_SELECTION_VARS`); set them in ``overrides`` to point the child at the
    reproduction's own run.
    """
    env = {key: value for key, value in base.items() if key not in MLFLOW_RUN_SELECTION_VARS + WANDB_RUN_SELECTION_VARS}
    env.update(overrides)
    return env


def execute(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    *,
    kill_grace_s: float = KILL_GRACE_S,
) -> Execution:
    """Run ``argv`` in ``cwd`` and wait at most ``timeout`` seconds.

    ``env`` is the child's *complete* environment, not additions to ours: build it with
    :func:`child_env` from ``os.environ`` and the plan's variables. (A Python child writing to
    a file buffers its output; set ``PYTHONUNBUFFERED=1`` in it to keep the last lines of a
    killed run in the tail.)

    On timeout, on a signal's request to stop (``interrupt.Interrupted`` is raised then), and
    on any exception while waiting (Ctrl-C), the whole process group gets
    SIGTERM, then SIGKILL after ``kill_grace_s``; an exception is re-raised afterwards. Processes
    the command left behind in its group after exiting normally are stopped the same way.
    The command gets a temporary directory of its own (``TMPDIR``, ``TEMP``, ``TMP``), removed
    afterwards however it ended: a killed command cannot clean up its temporary files.
    Raises ``ValueError`` for an empty argv and ``OSError`` when the executable cannot be started.
    """
    args = [os.fspath(item) for item in argv]
    if not args:
        raise ValueError("execute() needs a command: argv is empty")
    started = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="mlrepro-tmp-")
    try:
        return _execute(args, cwd, {**env, **dict.fromkeys(TEMP_VARIABLES, scratch)}, timeout, kill_grace_s, started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# The variables Python's tempfile (and most libraries) consult for the temporary directory.
TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")


def _execute(args: list[str], cwd: Path, env: Mapping[str, str], timeout: float, kill_grace_s: float, started: float) -> Execution:
    with tempfile.TemporaryFile(prefix="mlrepro-run-", suffix=".log") as log:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        # With start_new_session the child is its session's and group's leader: pgid == pid.
        pgid = proc.pid
        timed_out = False
        try:
            timed_out = not _wait(proc, started + timeout)
            if timed_out:
                _stop_group(proc, pgid, kill_grace_s)
        except BaseException:
            _stop_group(proc, pgid, kill_grace_s)
            raise
        else:
            if _group_alive(pgid):
                _stop_group(proc, pgid, kill_grace_s)
        duration = time.monotonic() - started
        # Training code prints what it pleases (MLflow: "View run at <tracking URI>", password
        # included): hide it here, and every result, finding and report built on it is clean.
        tail = redact(_read_tail(log))
    return Execution(
        returncode=None if timed_out else proc.returncode,
        timed_out=timed_out,
        log_tail=tail,
        duration_s=duration,
    )


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait for the leader until ``deadline`` (monotonic): True if it exited in time. Raises
    :class:`Interrupted` as soon as a signal asked to stop (see ``interrupt``): a worker
    thread of ``audit --reproduce --jobs N`` has no other way to learn of it."""
    while True:
        interrupt.check()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return proc.poll() is not None
        try:
            proc.wait(timeout=min(remaining, POLL_S))
            return True
        except subprocess.TimeoutExpired:
            continue


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its credentials (setuid): it exists
        pass
    # Signal 0 also finds zombies: killed grandchildren are orphans, and their new parent (init
    # or a subreaper) may reap them seconds later. Counting them would make every timeout wait
    # out the full grace period, so look closer where /proc allows it.
    running = _running_members(pgid)
    return True if running is None else running


def _running_members(pgid: int) -> bool | None:
    """Whether /proc lists a non-zombie member of ``pgid``; None without a Linux /proc."""
    try:
        entries = os.scandir("/proc")
    except OSError:
        return None
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:  # exited (or was reaped) while we looked
                continue
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _stop_group(proc: subprocess.Popen[bytes], pgid: int, grace_s: float) -> None:
    """SIGTERM the group, give it ``grace_s`` to exit, then SIGKILL whatever is left."""
    _signal_group(pgid, signal.SIGTERM)
    try:
        deadline = time.monotonic() + grace_s
        # Wait for the leader *and* its descendants: a child may ignore SIGTERM on its own.
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, or it stays in the group as a zombie
            if proc.returncode is not None and not _group_alive(pgid):
                return
            time.sleep(0.05)
    finally:
        # Also reached on a second Ctrl-C during the grace period: nothing may survive.
        _signal_group(pgid, signal.SIGKILL)
        proc.wait()
        # SIGKILL is not instantaneous; give the kernel a moment so callers see an empty group.
        settle = time.monotonic() + 1.0
        while _group_alive(pgid) and time.monotonic() < settle:
            time.sleep(0.02)


def _read_tail(log: IO[bytes]) -> str:
    """The last ``TAIL_LINES`` lines of the log, at most ``TAIL_BYTES`` of it."""
    size = log.seek(0, os.SEEK_END)
    start = max(0, size - TAIL_BYTES)
    log.seek(start)
    chunk = log.read()
    if start > 0:
        # The chunk starts mid-line (maybe mid-character): drop that fragment unless it is all
        # there is, as with one enormous line.
        newline = chunk.find(b"\n")
        if 0 <= newline < len(chunk) - 1:
            chunk = chunk[newline + 1 :]
    lines = chunk.decode("utf-8", errors="replace").splitlines(keepends=True)
    return "".join(lines[-TAIL_LINES:])
