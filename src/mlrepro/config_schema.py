"""Every value of ``[tool.mlrepro]``, checked in one place when the file is read.

A value of the wrong type, a negative size or a NaN / infinite number would otherwise switch
a check off without a word (``max-artifact-mb = nan`` compares false with every size). Each
command reads its own section later; this module makes sure that whatever any command reads
is usable, and that the error names the file and the key, as ruff's do. Unknown keys are left
to the section's owner (``config.load_table``, ``audit.policy``, ``promote.settings``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Check = Callable[[Any], str | None]  # None when the value is usable, else what it must be


class SchemaError(ValueError):
    """One unusable value; :func:`validate` turns it into the caller's error type."""


def finite_number(value: object, minimum: float = 0.0) -> bool:
    """A real number (not a bool), not NaN or infinite, at or above ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return value >= minimum


def _number(minimum: float = 0.0) -> Check:
    wanted = f"a finite number >= {minimum:g}"
    return lambda value: None if finite_number(value, minimum) else wanted


def _whole(minimum: int, maximum: int | None = None) -> Check:
    wanted = f"a whole number >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")

    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        return None if ok and (maximum is None or value <= maximum) else wanted

    return check


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def _strings(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return None if ok else "a list of strings"


def _one_of(*choices: str) -> Check:
    return lambda value: None if value in choices else f"one of {', '.join(choices)}"


def _command(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return None
    return "a string or a non-empty list of strings"


def _per_file_ignores(value: Any) -> str | None:
    ok = isinstance(value, Mapping) and all(_strings(codes) is None for codes in value.values())
    return None if ok else "a table of glob = [codes]"


def tolerance_spec(spec: str) -> tuple[float, float | None]:
    """``"RTOL[:ATOL]"`` -> (rtol, atol or None). ValueError unless both are finite and >= 0."""
    rtol_text, sep, atol_text = spec.partition(":")
    rtol = float(rtol_text)
    atol = float(atol_text) if sep else None
    if not finite_number(rtol) or (atol is not None and not finite_number(atol)):
        raise ValueError(f"{spec!r}: tolerances are finite numbers >= 0")
    return rtol, atol


def _tolerances(value: Any) -> str | None:
    wanted = 'a table of metric = "RTOL[:ATOL]" (finite numbers >= 0)'
    if not isinstance(value, Mapping):
        return wanted
    for name, spec in value.items():
        if not isinstance(spec, str):
            return f"{wanted}; not {show_key(name)} = {_show(spec)}"
        try:
            tolerance_spec(spec)
        except ValueError:
            return f"{wanted}; not {show_key(name)} = {_show(spec)}"
    return None


def _repos(value: Any) -> str | None:
    """``[tool.mlrepro.repos]``: a repository URL as runs record it -> the local path of a clone."""
    from mlrepro.run_commit import repo_key

    wanted = 'a table of repository URL = "local path" (e.g. "git@github.com:org/churn.git" = "../churn")'
    if not isinstance(value, Mapping):
        return wanted
    seen: dict[str, tuple[str, str]] = {}  # repo_key -> (URL as written, path)
    for url, path in value.items():
        key = repo_key(url)
        # A host and a path at least: "churn" or "https://github.com" names no repository.
        if "\0" in url or "/" not in key.removeprefix("file:"):
            return f"{wanted}; not the URL {show_key(url)}"
        if not isinstance(path, str) or not path.strip() or "\0" in path:
            return f"{wanted}; not {show_key(url)} = {_show(path)}"
        if key in seen and seen[key][1] != path:
            return f"{wanted}; {show_key(seen[key][0])} and {show_key(url)} name the same repository"
        seen[key] = (url, path)
    return None


# Section ("" is [tool.mlrepro] itself) -> key -> check. A key absent here is not type-checked.
SCHEMA: dict[str, dict[str, Check]] = {
    "": {
        "select": _strings,
        "ignore": _strings,
        "extend-select": _strings,
        "exclude": _strings,
        "extend-exclude": _strings,
        "seed-functions": _strings,
        "fixable": _strings,
        "unfixable": _strings,
        "per-file-ignores": _per_file_ignores,
        "extend-per-file-ignores": _per_file_ignores,
        "tracking-uri": _text,
        "backend-store-uri": _text,
        "max-file-size-kb": _whole(1, maximum=2**30),  # up to a terabyte
        "repos": _repos,
    },
    "audit": {
        "required-tags": _strings,
        "required-params": _strings,
        "seed-params": _strings,
        "data-version-tags": _strings,
        "experiments": _strings,
        "exclude-experiments": _strings,
        "generic-run-names": _strings,
        "max-artifact-mb": _number(),
        "max-run-artifacts-mb": _number(),
        "stale-running-hours": _number(),
        "rules-dir": _text,
        "fail-on": _one_of("note", "warning", "error"),
    },
    "promote": {"guarded-aliases": _strings, "must-beat": _strings},
    "capture": {"max-diff-tags": _whole(0)},
    "reproduce": {
        "command": _command,
        "tolerances": _tolerances,
        "executor": _one_of("local", "ray"),
        "ray-address": _text,
        "num-cpus": _number(),
        "num-gpus": _number(),
        "memory": _whole(1),
    },
    "report": {},
}


def validate(table: Mapping[str, Any], path: Path) -> None:
    """Raise :class:`SchemaError` ("<file>: [tool.mlrepro.<section>] <key> must be ...") for
    the first unusable value."""
    for section, checks in SCHEMA.items():
        where = "[tool.mlrepro]" if not section else f"[tool.mlrepro.{section}]"
        values = table.get(section, {}) if section else table
        if not isinstance(values, Mapping):
            raise SchemaError(f"{path}: {where} must be a table, got {_show(values)}")
        for key, check in checks.items():
            if key in values:
                wanted = check(values[key])
                if wanted is not None:
                    got = "" if isinstance(values[key], Mapping) else f", got {_show(values[key])}"
                    raise SchemaError(f"{path}: {where} {key} must be {wanted}{got}")


def show_key(key: object) -> str:
    """A key as typed when it is a plain TOML key, else quoted: a key may hold a newline, and
    the error must stay one line."""
    text = str(key)
    return text if text and all(c.isascii() and (c.isalnum() or c in "-_") for c in text) else repr(text)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
