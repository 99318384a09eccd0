"""Findings about the file itself rather than its code: it does not parse, does not decode,
or is not a notebook. The engine calls these when it cannot build a module context."""

from __future__ import annotations

SYNTAX_ERROR = "MLR001"
UNDECODABLE = "MLR002"
INVALID_NOTEBOOK = "MLR003"


def syntax_error(exc: SyntaxError) -> tuple[int, int, str]:
    """(row, column, message) of a parse error, 1-based."""
    row = exc.lineno or 1
    col = max(exc.offset or 1, 1)
    return row, col, f"SyntaxError: {exc.msg}; no other rule could check this file"


def unparsable(exc: BaseException) -> str:
    reason = "too deeply nested" if isinstance(exc, (RecursionError, MemoryError)) else str(exc)
    return f"cannot parse: {reason}; no other rule could check this file"


def undecodable(exc: BaseException) -> str:
    return f"cannot decode: {exc}; no other rule could check this file"


def invalid_notebook(exc: BaseException) -> str:
    return f"invalid notebook: {exc}; no other rule could check this file"
