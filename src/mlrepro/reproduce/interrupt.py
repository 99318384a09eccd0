"""SIGINT, SIGTERM and SIGHUP while reproductions run: a request to stop, honoured where it is safe.

CI runners and ``timeout`` send SIGTERM, a closed terminal SIGHUP; by default either ends the
process on the spot and leaves the training's process group running (it has a session of its
own), the git worktree registered and the reproduction run RUNNING forever. And an exception
raised at an arbitrary point (Python's Ctrl-C) can land in the middle of that clean-up.

So while a reproduction is under way (:func:`cooperative`), the handlers only record the
signal; the runner's wait loop sees it, stops the process group and raises :class:`Interrupted`,
which the engine turns into a KILLED run before the worktree goes. Outside such a region the
handler raises at once, as Ctrl-C would. Signal handlers run in the main thread only; threads
(``audit --reproduce --jobs N``) see the same request through :func:`requested`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Plain assignments, no locks: the handler interrupts the main thread wherever it is, possibly
# while that thread holds a lock the handler would wait for.
_requested: signal.Signals | None = None
_depth = 0
_depth_lock = threading.Lock()
_ended: list[str] = []
_ended_lock = threading.Lock()


class Interrupted(KeyboardInterrupt):
    """A signal asked the command to stop. A KeyboardInterrupt, so that code which cleans up on
    Ctrl-C does so here too."""

    def __init__(self, signum: signal.Signals | int) -> None:
        self.signum = signal.Signals(signum)
        super().__init__(self.signum.name)

    @property
    def signame(self) -> str:
        return self.signum.name


def requested() -> signal.Signals | None:
    """The signal that asked to stop, if one did."""
    return _requested


def check() -> None:
    """Raise :class:`Interrupted` if a signal asked to stop: before starting anything new."""
    if _requested is not None:
        raise Interrupted(_requested)


def cause(exc: BaseException) -> str:
    """What ended a re-execution that raised ``exc``: the signal's name, else the exception's."""
    if isinstance(exc, Interrupted):
        return exc.signame
    if _requested is not None:
        return _requested.name
    if isinstance(exc, KeyboardInterrupt):
        return "SIGINT"
    return f"{type(exc).__name__}: {exc}"


def note_ended(message: str) -> None:
    """Keep a line for the user about a run this stop ended (the CLI prints them)."""
    with _ended_lock:
        _ended.append(message)


def ended() -> list[str]:
    with _ended_lock:
        return list(_ended)


@contextmanager
def cooperative() -> Iterator[None]:
    """While inside, a signal is only recorded (see the module's docstring); leaving normally
    after one arrived raises :class:`Interrupted`."""
    global _depth
    with _depth_lock:
        _depth += 1
    try:
        yield
    except Exception as exc:
        # What a signal broke on its way (a git child that got the terminal's SIGINT too) is
        # reported as the stop it was.
        if _requested is not None:
            raise Interrupted(_requested) from exc
        raise
    finally:
        with _depth_lock:
            _depth -= 1
    check()


def _handle(signum: int, frame: FrameType | None) -> None:
    global _requested
    first = _requested is None
    if first:
        _requested = signal.Signals(signum)
    # A second signal while the first is being honoured is ignored: the clean-up is bounded
    # (the runner's grace period, then SIGKILL) and must not be cut short.
    if first and _depth == 0:
        raise Interrupted(signum)


@contextmanager
def handle_signals() -> Iterator[None]:
    """Install the handlers for the duration of a command (main thread only; elsewhere a no-op)."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested = None
    with _ended_lock:
        _ended.clear()
    previous = {sig: signal.signal(sig, _handle) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _requested = None  # honoured (Interrupted carries it): a later command in this process starts afresh
