"""The history folder: one JSON file per night, named by its UTC date (``2026-11-28.json``).
Running the same night again replaces that night's file, so a retried cron job leaves one."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from mlrepro.nightly.model import Night
from mlrepro.redaction import redact

_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")


def night_path(history: Path, date: str) -> Path:
    return history / f"{date}.json"


def save_night(history: Path, night: Night) -> Path:
    """Write atomically (temporary file, then rename): a night killed mid-write must not leave
    a truncated file that breaks every later report."""
    history.mkdir(parents=True, exist_ok=True)
    target = night_path(history, night["date"])
    fd, tmp = tempfile.mkstemp(prefix=".night-", suffix=".json", dir=history)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # Insertion order, not sorted keys: the header and the summary come first, which lets
            # read_summary() read the older nights' summaries from the first bytes of the file.
            handle.write(redact(json.dumps(night, separators=(",", ":"))))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a history folder is shared like any report
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_history(history: Path, before: str, limit: int = 60) -> list[Night]:
    """The nights strictly before ``before`` (a date), oldest first, at most ``limit``: the
    latest in full (its findings tell new from resolved), the others as their header and
    summary only, which is all a trend needs (at 10,000 runs a night's file is ~10 MB).
    Files that are not night files, or not readable, are skipped: one damaged night must not
    stop the report (the trend just lacks it)."""
    if not history.is_dir():
        return []
    names = sorted(p.name for p in history.iterdir() if _NAME.match(p.name) and p.name[:-5] < before)[-limit:]
    nights = [n for n in (read_summary(history / name) for name in names[:-1]) if n is not None]
    if names:
        latest = _read_full(history / names[-1])
        if latest is not None:
            nights.append(latest)
    return nights


def _valid(data: object, full: bool) -> bool:
    return isinstance(data, dict) and isinstance(data.get("summary"), dict) and isinstance(data.get("date"), str) and (
        not full or isinstance(data.get("findings"), list)
    )


def _read_full(path: Path) -> Night | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if _valid(data, full=True) else None


_HEAD_BYTES = 64 * 1024


def read_summary(path: Path) -> Night | None:
    """A night's header fields and summary without parsing its findings. save_night writes
    them first, so they sit in the file's first bytes: decode the keys up to ``"summary"``
    from there (a JSON string cannot hold an unescaped quote, so the first ``"summary":`` is
    the top-level key). Anything unexpected falls back to reading the whole file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES).decode("utf-8", errors="ignore")
    except OSError:
        return None
    decoder = json.JSONDecoder()
    marker = head.find('"summary":')
    if head.startswith("{") and marker > 0:
        try:
            header, _ = decoder.raw_decode(head[:marker].rstrip().rstrip(",") + "}")
            summary, _ = decoder.raw_decode(head, marker + len('"summary":'))
        except ValueError:
            pass
        else:
            night = {**header, "summary": summary} if isinstance(header, dict) else None
            if _valid(night, full=False):
                return night
    return _read_full(path)
