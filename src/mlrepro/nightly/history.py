"""The history folder: one JSON file per night, named by its UTC date (``2026-11-28.json``).
Running the same night again replaces that night's file, so a retried cron job leaves one."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from mlrepro.nightly.model import Night

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
            json.dump(night, handle, sort_keys=True, separators=(",", ":"))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a history folder is shared like any report
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_history(history: Path, before: str, limit: int = 60) -> list[Night]:
    """The nights strictly before ``before`` (a date), oldest first, at most ``limit``.
    Files that are not night files, or not readable JSON, are skipped: one damaged night
    must not stop the report (the trend just lacks it)."""
    if not history.is_dir():
        return []
    names = sorted(p.name for p in history.iterdir() if _NAME.match(p.name) and p.name[:-5] < before)
    nights = []
    for name in names[-limit:]:
        try:
            data = json.loads((history / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("summary"), dict) and isinstance(data.get("findings"), list):
            nights.append(data)
    return nights
