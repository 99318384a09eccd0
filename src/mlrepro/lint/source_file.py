"""Reading a file to lint without trusting it: only regular files, never more than the limit.

A FIFO named ``x.py`` blocks ``open()`` forever, a symlink loop raises where a path is
resolved, and a 50 MB generated module needs gigabytes once parsed. Each is reported as a
file that was not read (MLR002, with the reason), so the other files are still linted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class SourceFileError(Exception):
    """The file was not read; the message says why (it becomes the MLR002 finding)."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a file"


def _check(mode: int, size: int, max_bytes: int) -> None:
    if not stat.S_ISREG(mode):
        raise SourceFileError(f"not a regular file ({_kind(mode)}); not read")
    if size > max_bytes:
        raise SourceFileError(
            f"{size / 1024:.0f} KB is larger than max-file-size-kb = {max_bytes // 1024:g} in [tool.mlrepro]; not read"
        )


def read_source(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, or :class:`SourceFileError` when it is not a regular file, is larger
    than ``max_bytes`` or cannot be read."""
    try:
        info = os.stat(path)
        _check(info.st_mode, info.st_size, max_bytes)
        # O_NONBLOCK: should the file be swapped for a FIFO after the stat, open() still returns.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise SourceFileError(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        _check(info.st_mode, info.st_size, max_bytes)
        data = handle.read(max_bytes + 1)  # a file still growing stops at the limit too
    _check(stat.S_IFREG, len(data), max_bytes)
    return data


def relative_to(path: Path, root: Path) -> str | None:
    """``path`` relative to the resolved ``root`` as a POSIX string, or None outside it. A path
    found by walking ``root`` already starts with it: no system call then (a large tree has
    thousands of files, and resolving each costs more than linting a small one)."""
    text, prefix = str(path), f"{root}{os.sep}"
    if text.startswith(prefix) and ".." not in path.parts:
        return text[len(prefix):].replace(os.sep, "/")
    try:
        return safe_resolve(path).relative_to(root).as_posix()
    except ValueError:
        return None


def safe_resolve(path: Path) -> Path:
    """``path.resolve()``, or the absolute path where resolving fails (a symlink loop raises)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def wide_encoding(data: bytes) -> str | None:
    """"UTF-16" or "UTF-32" when ``data`` looks encoded so (a byte-order mark, or ASCII text with
    a NUL after or before every character), else None: such a file is text, not binary."""
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return name
    sample = data[:4096]
    if len(sample) >= 4 and len(sample) % 2 == 0:
        even, odd = sample[0::2], sample[1::2]
        if not odd.strip(b"\0") and b"\0" not in even:
            return "UTF-16"  # little-endian without a byte-order mark
        if not even.strip(b"\0") and b"\0" not in odd:
            return "UTF-16"  # big-endian
    return None
