"""Jupyter notebooks as one Python module, with a map back to (cell, line).

Code cells are joined in order, as a top-to-bottom run would execute them. IPython syntax
(``%magic``, ``!shell``, ``%%cell_magic``) is not Python; those lines become ``pass`` at the same
indentation, and the lines that continue them after a trailing backslash (a long ``!pip install``)
become blank, so that line numbers and blocks stay intact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Cell magics whose body is still Python.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "writefile_python"}
_LINE_MAGIC = re.compile(r"^(\s*)(?:[%!]|\w+\s*=\s*[%!])")
_HELP = re.compile(r"^\s*[\w.]+\?{1,2}\s*$")


class NotebookError(Exception):
    """The file is not a notebook we can read (invalid JSON or not nbformat)."""


@dataclass(frozen=True)
class NotebookSource:
    source: str
    # line_map[i] = (cell number, line in cell), both 1-based, for line i + 1 of ``source``.
    line_map: tuple[tuple[int, int], ...]

    def locate(self, row: int) -> tuple[int, int]:
        if 0 < row <= len(self.line_map):
            return self.line_map[row - 1]
        return self.line_map[-1] if self.line_map else (1, row)


def _cell_lines(cell_source: object) -> list[str]:
    if isinstance(cell_source, list):
        text = "".join(str(part) for part in cell_source)
    elif isinstance(cell_source, str):
        text = cell_source
    else:
        raise NotebookError("a cell's source is neither a string nor a list of strings")
    # Python also ends a line at a lone CR: split the same way, or later rows would drift.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _python_lines(lines: list[str]) -> list[str]:
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(None, 1)[0] if len(first) > 2 else ""
        if magic not in _PYTHON_CELL_MAGICS:
            return ["" for _ in lines]
        lines = ["", *lines[1:]]
    out = []
    continued = False  # inside a magic or shell escape continued with a backslash, as IPython reads it
    for line in lines:
        if continued:
            out.append("")
            continued = line.endswith("\\")
            continue
        match = _LINE_MAGIC.match(line)
        if match or _HELP.match(line):
            indent = match.group(1) if match else ""
            out.append(f"{indent}pass")
            continued = match is not None and line.endswith("\\")
        else:
            out.append(line)
    return out


def _number(text: str) -> object:
    # Python refuses to convert integers of more than 4,300 digits (ValueError); no number in
    # a notebook matters to the rules, so a huge one stays text instead of failing the file.
    return int(text) if len(text) <= 1000 else text


def read_notebook(data: bytes) -> NotebookSource:
    try:
        document = json.loads(data.decode("utf-8"), parse_int=_number)
    except UnicodeDecodeError as exc:
        from mlrepro.lint.source_file import wide_encoding

        wide = wide_encoding(data)
        if wide is not None:
            raise NotebookError(f"{wide} encoded; mlrepro reads notebooks as UTF-8, as Jupyter writes them") from None
        raise NotebookError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise NotebookError("JSON too deeply nested to read") from None
    except ValueError as exc:  # numbers Python cannot represent
        raise NotebookError(f"invalid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise NotebookError("not an nbformat 4 notebook (no 'cells' list)")
    metadata = document.get("metadata")
    language = metadata.get("language_info") if isinstance(metadata, dict) else None
    if isinstance(language, dict) and language.get("name") not in (None, "python"):
        return NotebookSource("", ())  # an R or Julia notebook: nothing of ours to check
    sources: list[str] = []
    line_map: list[tuple[int, int]] = []
    # Cells are numbered among all cells, as the editor shows them (and as ruff reports them).
    for cell_number, cell in enumerate(document["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        lines = _python_lines(_cell_lines(cell.get("source", "")))
        for number, line in enumerate(lines, start=1):
            sources.append(line)
            line_map.append((cell_number, number))
    return NotebookSource("\n".join(sources) + ("\n" if sources else ""), tuple(line_map))
