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
    """The nights of :func:`read_history`, without the list of those it skipped."""
    return read_history(history, before, limit)[0]


def read_history(history: Path, before: str, limit: int = 60) -> tuple[list[Night], list[str]]:
    """The nights strictly before ``before`` (a date), oldest first, at most ``limit``: the
    newest readable one in full (its findings tell new from resolved), the others as their
    header and summary only, which is all a trend needs (at 10,000 runs a night's file is
    ~10 MB). And one line per night file left out (``"2026-11-25.json: not valid JSON"``):
    one damaged night must not stop the report (the trend just lacks it, the page says so)."""
    if not history.is_dir():
        return [], []
    names = sorted(p.name for p in history.iterdir() if _NAME.match(p.name) and p.name[:-5] < before)[-limit:]
    skipped: dict[str, str] = {}
    latest: Night | None = None
    while names and latest is None:
        name = names.pop()
        try:
            latest = _load_full(history / name)
        except DamagedNight as exc:
            skipped[name] = str(exc)
    nights = []
    for name in names:
        try:
            nights.append(_load_summary(history / name))
        except DamagedNight as exc:
            skipped[name] = str(exc)
    if latest is not None:
        nights.append(latest)
    return nights, [f"{name}: {reason}" for name, reason in sorted(skipped.items())]


class DamagedNight(Exception):
    """A night file that cannot be read back; the message says why."""


def _valid(data: object, full: bool) -> bool:
    return isinstance(data, dict) and isinstance(data.get("summary"), dict) and isinstance(data.get("date"), str) and (
        not full or isinstance(data.get("findings"), list)
    )


def _decode(text: str) -> object:
    try:
        return json.loads(text)
    except RecursionError:  # nesting deeper than the interpreter's stack: not a night we wrote
        raise DamagedNight("nested too deeply to be a night file") from None
    except ValueError as exc:
        raise DamagedNight(f"not valid JSON ({exc})") from None


def _load_full(path: Path) -> Night:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedNight(f"unreadable ({exc})") from None
    data = _decode(text)
    if not _valid(data, full=True):
        raise DamagedNight("not a night file (no date, summary or findings)")
    return data  # type: ignore[return-value]


def _read_full(path: Path) -> Night | None:
    try:
        return _load_full(path)
    except DamagedNight:
        return None


_HEAD_BYTES = 64 * 1024


def read_summary(path: Path) -> Night | None:
    """A night's header fields and summary, or None when the file cannot be read back."""
    try:
        return _load_summary(path)
    except DamagedNight:
        return None


def _load_summary(path: Path) -> Night:
    """A night's header fields and summary without parsing its findings. save_night writes
    them first, so they sit in the file's first bytes: decode the keys up to ``"summary"``
    from there (a JSON string cannot hold an unescaped quote, so the first ``"summary":`` is
    the top-level key). Anything unexpected falls back to reading the whole file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES).decode("utf-8", errors="ignore")
    except OSError as exc:
        raise DamagedNight(f"unreadable ({exc})") from None
    decoder = json.JSONDecoder()
    marker = head.find('"summary":')
    if head.startswith("{") and marker > 0:
        try:
            header, _ = decoder.raw_decode(head[:marker].rstrip().rstrip(",") + "}")
            summary, _ = decoder.raw_decode(head, marker + len('"summary":'))
        except (ValueError, RecursionError):
            pass
        else:
            night = {**header, "summary": summary} if isinstance(header, dict) else None
            if _valid(night, full=False):
                return night  # type: ignore[return-value]
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DamagedNight(f"unreadable ({exc})") from None
    data = _decode(text)
    if not _valid(data, full=False):
        raise DamagedNight("not a night file (no date or summary)")
    return data  # type: ignore[return-value]
