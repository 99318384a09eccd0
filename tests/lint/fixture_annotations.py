"""Reading the ``# expect: MLR101`` annotations of lint fixtures.

A fixture line ending in ``# expect: CODE[, CODE]`` must produce exactly those findings on
that line; every other line must produce none (``# ok: why`` marks lines that are
explicitly fine). In notebooks the annotation is inside a code cell and the expected
location is (cell, line in cell).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>MLR\d{3}(?:\s*,\s*MLR\d{3})*)")
OK = re.compile(r"#\s*ok\b")

Key = tuple[int | None, int, str]  # (cell, row, code)


def _scan(lines: list[str], cell: int | None) -> tuple[set[Key], int]:
    expected: set[Key] = set()
    annotations = 0
    for row, line in enumerate(lines, start=1):
        match = EXPECT.search(line)
        if match:
            annotations += 1
            for code in re.split(r"\s*,\s*", match.group("codes")):
                expected.add((cell, row, code))
        elif OK.search(line):
            annotations += 1
    return expected, annotations


def expected_findings(path: Path) -> tuple[set[Key], int]:
    """The findings a fixture expects, and how many annotated lines it has."""
    raw = path.read_bytes()
    if path.suffix == ".ipynb":
        try:
            document = json.loads(raw)
            cells = document["cells"]
        except (ValueError, KeyError, TypeError):
            # A deliberately broken notebook: the finding is at the top of the file.
            expected, count = _scan(raw.decode("utf-8", "replace").splitlines(), None)
            return {(None, 1, code) for _, _, code in expected}, count
        expected: set[Key] = set()
        total = 0
        for number, cell in enumerate(cells, start=1):
            if cell.get("cell_type") != "code":
                continue
            source = cell["source"]
            text = "".join(source) if isinstance(source, list) else source
            found, count = _scan(text.split("\n"), number)
            expected |= found
            total += count
        return expected, total
    return _scan(raw.decode("utf-8", "replace").splitlines(), None)


def fixture_code(path: Path) -> str:
    """``MLR101_seeded.py`` -> ``MLR101``."""
    return path.name.split("_", 1)[0].split(".", 1)[0]
