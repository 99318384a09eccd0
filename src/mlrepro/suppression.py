"""``# noqa`` comments: ``# noqa: MLR101`` on a line, a bare ``# noqa``, or ``# mlrepro: noqa``
(optionally ``# mlrepro: noqa: MLR1``) anywhere on its own line for the whole file."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.I)
_FILE_NOQA = re.compile(r"^[ \t]*#\s*mlrepro\s*:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]*(?:[,\s]+[A-Z]+[0-9]*)*))?", re.I | re.M)
_CODE = re.compile(r"[A-Z]+[0-9]*", re.I)

ALL: frozenset[str] = frozenset({"*"})


@dataclass(frozen=True)
class FileSuppression:
    """Codes (or prefixes) a file-level directive turns off; ``ALL`` for a bare one."""

    codes: frozenset[str]

    def covers(self, code: str) -> bool:
        return self.codes is ALL or any(code.startswith(prefix) for prefix in self.codes)


def file_suppression(source: str) -> FileSuppression | None:
    if "noqa" not in source and "NOQA" not in source and "Noqa" not in source:
        return None  # a substring test is far cheaper than the multi-line regex
    codes: set[str] = set()
    for match in _FILE_NOQA.finditer(source):
        if not match.group("codes"):
            return FileSuppression(ALL)
        codes.update(c.upper() for c in _CODE.findall(match.group("codes")))
    return FileSuppression(frozenset(codes)) if codes else None


def line_suppresses(line: str, code: str) -> bool:
    """Does this source line carry a ``# noqa`` that covers ``code``?"""
    if "noqa" not in line.lower():
        return False
    for match in _LINE_NOQA.finditer(line):
        codes = match.group("codes")
        if not codes:
            return True
        if code.upper() in {c.upper() for c in _CODE.findall(codes)}:
            return True
    return False
