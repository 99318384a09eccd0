"""``mlrepro lint --fix``: apply the fixes of the findings a lint run reported, as ruff does.

The lint run (project-wide, cached) says what is wrong; this module repairs it file by file:

1. the findings of rules that have a fix (``fix-applicability`` in their YAML) and that the
   configuration lets be fixed (``fixable`` / ``unfixable``) become targets, positions in the
   file's Python source (a notebook's code cells joined, as the linter reads them);
2. ``fixes.py`` plans each target's fix on libcst's concrete syntax tree: a few text edits that
   keep every comment and all formatting outside them;
3. fixes are applied together unless they overlap (the later one waits for the next pass), the
   result must still parse (a fix that breaks it is dropped and its finding stays), and passes
   repeat, re-linting the file, until no fix applies or ``MAX_PASSES`` is reached.

libcst costs about a second to import and is far slower than ``ast``: it is imported only
when some file has a finding to fix, and only such files are parsed with it. Notebooks are
fixed cell by cell: an edit must fall inside one cell's own lines (not a magic turned into
``pass``), and only the ``source`` of the cells it changes is rewritten; outputs, metadata and
the other cells stay as they were.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlrepro.findings import Edit, Finding, Fix, Location
from mlrepro.lint.notebook import NotebookError, NotebookSource, read_notebook
from mlrepro.lint.source_file import SourceFileError, read_source

SAFE, UNSAFE = "safe", "unsafe"
# Passes over one file: a pass applies every fix that does not overlap another; what overlapped
# is planned again on the new text. Real files settle in two or three.
MAX_PASSES = 8
_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class TextEdit:
    """Replace ``source[start:end]`` with ``content`` (offsets in characters)."""

    start: int
    end: int
    content: str


@dataclass(frozen=True)
class Target:
    """A finding to fix, placed in the Python source being fixed."""

    code: str
    start: int
    end: int | None  # None: the finding has no span (a finding about the whole file)
    message: str
    finding: Finding | None = None  # the reported finding
    key: str | None = None  # ``node_key`` of the span


@dataclass(frozen=True)
class Proposal:
    """One fix: its edits, whether it is safe, and what it does (ruff's fix message)."""

    code: str
    applicability: str
    message: str
    edits: tuple[TextEdit, ...]


class Lines:
    """Offsets of line starts, with Python's idea of a line end (``\\n``, ``\\r\\n``, ``\\r``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]

    def offset(self, row: int, column: int) -> int:
        """1-based row, 0-based character column -> offset (clamped to the text)."""
        if row < 1:
            return 0
        if row > len(self.starts):
            return len(self.text)
        return min(self.starts[row - 1] + column, len(self.text))

    def position(self, offset: int) -> tuple[int, int]:
        """Offset -> (1-based row, 0-based column)."""
        from bisect import bisect_right

        row = bisect_right(self.starts, offset)
        return row, offset - self.starts[row - 1]

    def line_end(self, offset: int) -> int:
        """The offset just after the line break that ends the line holding ``offset``."""
        match = _NEWLINE.search(self.text, offset)
        return match.end() if match else len(self.text)


def parses(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def apply_edits(source: str, edits: Iterable[TextEdit]) -> str:
    """Apply non-overlapping edits (identical edits count once)."""
    unique = sorted(set(edits), key=lambda e: (e.start, e.end))
    out: list[str] = []
    last = 0
    for edit in unique:
        out.append(source[last : edit.start])
        out.append(edit.content)
        last = edit.end
    out.append(source[last:])
    return "".join(out)


def _overlaps(a: TextEdit, b: TextEdit) -> bool:
    if a == b:
        return False
    if a.start == a.end and b.start == b.end:
        return a.start == b.start  # two different insertions at one point: order unknown
    return a.start < b.end and b.start < a.end or (a.start == a.end and b.start < a.start < b.end) or (
        b.start == b.end and a.start < b.start < a.end
    )


def select(proposals: Sequence[tuple[int, Proposal]]) -> tuple[list[tuple[int, Proposal]], list[int]]:
    """The fixes to apply together in this pass (by position) and the indices that overlap one
    of them and wait for the next pass. An edit identical to a chosen one is shared, as the
    ``SEED`` constant that every ``random_state=SEED`` fix of a file adds."""
    chosen: list[tuple[int, Proposal]] = []
    taken: list[TextEdit] = []
    waiting: list[int] = []
    for index, proposal in sorted(proposals, key=lambda item: (min(e.start for e in item[1].edits), item[0])):
        if any(_overlaps(edit, other) for edit in proposal.edits for other in taken):
            waiting.append(index)
            continue
        chosen.append((index, proposal))
        taken.extend(proposal.edits)
    return chosen, waiting


def text_edits(old: str, new: str) -> tuple[TextEdit, ...]:
    """The edits that turn ``old`` into ``new``: changed runs of lines, each trimmed to the
    characters that differ, so unchanged text (a comment on a re-indented line's neighbour, a
    multi-line string) is never part of an edit."""
    if old == new:
        return ()
    old_lines = _split_keep(old)
    new_lines = _split_keep(new)
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(old_lines), len(new_lines)) - head
        and old_lines[len(old_lines) - 1 - tail] == new_lines[len(new_lines) - 1 - tail]
    ):
        tail += 1
    old_mid = old_lines[head : len(old_lines) - tail]
    new_mid = new_lines[head : len(new_lines) - tail]
    base = sum(len(line) for line in old_lines[:head])
    old_offsets = [base]
    for line in old_mid:
        old_offsets.append(old_offsets[-1] + len(line))
    edits = []
    matcher = difflib.SequenceMatcher(None, old_mid, new_mid, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        start, end = old_offsets[i1], old_offsets[i2]
        edits.append(_trimmed(start, old[start:end], "".join(new_mid[j1:j2])))
    return tuple(edits)


def _split_keep(text: str) -> list[str]:
    lines, last = [], 0
    for match in _NEWLINE.finditer(text):
        lines.append(text[last : match.end()])
        last = match.end()
    if last < len(text):
        lines.append(text[last:])
    return lines


def _trimmed(start: int, old: str, new: str) -> TextEdit:
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    return TextEdit(start + prefix, start + len(old) - suffix, new[prefix : len(new) - suffix])


# -- files -----------------------------------------------------------------------------------


class _Unfixable(Exception):
    pass


@dataclass
class _PyFile:
    """A ``.py`` file as text, and how to write it back byte for byte the same way."""

    text: str
    bom: bool

    @classmethod
    def read(cls, data: bytes) -> _PyFile:
        bom = data.startswith(b"\xef\xbb\xbf")
        try:
            text = data[3 if bom else 0 :].decode("utf-8")
        except UnicodeDecodeError:
            # A file in a declared legacy encoding: rare, and an edit could not be written back
            # without re-encoding what the user wrote; left alone.
            raise _Unfixable from None
        return cls(text, bom)

    @property
    def source(self) -> str:
        return self.text

    def rebuilt(self, source: str) -> bytes:
        return (b"\xef\xbb\xbf" if self.bom else b"") + source.encode("utf-8")

    def diff(self, display: str, source: str) -> str:
        return _unified(self.text, source, display, display)


@dataclass
class _Notebook:
    """A notebook: the JSON document, its cells' texts, and the joined source the linter reads.

    The joined source holds each code cell's lines followed by a line break; cell ``k``'s
    segment is ``source[seg_start:seg_end]`` and, outside magics, equals the cell's text plus
    that final break."""

    raw: str
    document: dict[str, Any]
    notebook: NotebookSource
    cells: dict[int, str]  # cell number (1-based among all cells) -> its source text
    segments: dict[int, tuple[int, int]]
    style: dict[str, Any]

    @classmethod
    def read(cls, data: bytes) -> _Notebook:
        try:
            raw = data.decode("utf-8")
            document = json.loads(raw)
            notebook = read_notebook(data)
        except (UnicodeDecodeError, ValueError, NotebookError, RecursionError):
            raise _Unfixable from None
        if not isinstance(document, dict) or not notebook.line_map:
            raise _Unfixable
        cells: dict[int, str] = {}
        for number, cell in enumerate(document.get("cells", []), start=1):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                text = cell.get("source", "")
                cells[number] = "".join(text) if isinstance(text, list) else str(text)
        lines = Lines(notebook.source)
        segments: dict[int, tuple[int, int]] = {}
        for row, (cell, _) in enumerate(notebook.line_map, start=1):
            start, end = lines.starts[row - 1], lines.line_end(lines.starts[row - 1])
            first = segments.get(cell, (start, end))[0]
            segments[cell] = (first, end)
        return cls(raw, document, notebook, cells, segments, _json_style(raw))

    @property
    def source(self) -> str:
        return self.notebook.source

    def cell_edits(self, edits: Iterable[TextEdit]) -> dict[int, list[TextEdit]]:
        """Joined-source edits -> edits of each cell's own text. Raises ``_Unfixable`` for an
        edit that spans two cells or touches a line that is not the cell's own (a magic)."""
        source = self.notebook.source
        out: dict[int, list[TextEdit]] = {}
        for edit in edits:
            owner = None
            for cell, (start, end) in self.segments.items():
                inside = start <= edit.start and edit.end <= end - 1
                # An insertion where a segment ends (the next one starts) and that ends with a line
                # break is lines added after the cell's last line: it belongs to the cell before.
                appended = edit.start == edit.end == end and edit.content.endswith(("\n", "\r"))
                if (inside and not (edit.start == edit.end == start and owner is not None)) or appended:
                    owner = cell
                    if appended:
                        break
            if owner is None:
                raise _Unfixable
            start, end = self.segments[owner]
            segment = source[start:end]
            own = self.cells[owner]
            # The edit's lines must read the same in the cell as in the joined source.
            first = segment.count("\n", 0, edit.start - start)
            last = segment.count("\n", 0, max(edit.start, edit.end - 1) - start) if edit.end > edit.start else first
            seg_lines = segment[:-1].split("\n")
            own_lines = own.split("\n")
            if len(seg_lines) != len(own_lines) or any(seg_lines[i] != own_lines[i] for i in range(first, min(last, len(seg_lines) - 1) + 1)):
                raise _Unfixable
            out.setdefault(owner, []).append(TextEdit(edit.start - start, edit.end - start, edit.content))
        return out

    def new_cells(self, edits: Iterable[TextEdit]) -> dict[int, str]:
        changed: dict[int, str] = {}
        for cell, cell_edits in self.cell_edits(edits).items():
            start, end = self.segments[cell]
            segment = self.notebook.source[start:end]
            edited = apply_edits(segment, cell_edits)
            if not edited.endswith("\n"):
                raise _Unfixable
            # Only the edited lines come from the joined source; the rest (magics) from the cell.
            changed[cell] = _merge_cell(self.cells[cell], segment[:-1], edited[:-1])
        return changed

    def rebuilt(self, edits: Sequence[TextEdit]) -> bytes:
        """The notebook with the joined-source ``edits`` made to its cells, written as it was."""
        document = json.loads(self.raw)
        for cell, text in self.new_cells(edits).items():
            entry = document["cells"][cell - 1]
            if isinstance(entry.get("source"), list):
                entry["source"] = text.splitlines(keepends=True)
            else:
                entry["source"] = text
        return _dump(document, self.style).encode("utf-8")


def _merge_cell(own: str, joined: str, edited: str) -> str:
    """The cell's new text: ``edited`` (the cell's joined-source lines after the edits) with the
    cell's own lines put back where the joined source had replaced them (magics), which the
    edits never touch."""
    if own == joined:
        return edited
    own_lines, joined_lines = own.split("\n"), joined.split("\n")
    edited_lines = edited.split("\n")
    matcher = difflib.SequenceMatcher(None, joined_lines, edited_lines, autojunk=False)
    out: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(own_lines[i1:i2])
        else:
            out.extend(edited_lines[j1:j2])
    return "\n".join(out)


def _json_style(raw: str) -> dict[str, Any]:
    """How the notebook was written (Jupyter: one-space indent, non-ASCII kept, final newline),
    so that rewriting it changes only the edited cells."""
    match = re.search(r"\n( +)\"", raw)
    return {
        "indent": len(match.group(1)) if match else 1,
        "ensure_ascii": raw.isascii() and "\\u" in raw,
        "newline": raw.endswith("\n"),
    }


def _dump(document: Any, style: dict[str, Any]) -> str:
    text = json.dumps(document, indent=style["indent"], ensure_ascii=style["ensure_ascii"])
    return text + ("\n" if style["newline"] else "")


def _unified(old: str, new: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=before, tofile=after
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


# -- one file --------------------------------------------------------------------------------

Planner = Callable[[str, Sequence[Target], "FixContext"], list[Proposal | None]]
Relinter = Callable[[str, frozenset[str]], list[Target]]


@dataclass(frozen=True)
class FixContext:
    """What the planners may know besides the source."""

    display: str
    notebook: bool
    seed_functions: tuple[str, ...] = ()
    project_seeders: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # For a notebook: offset -> cell number, so that a fix never spans two cells.
    cell_of: Callable[[int], int | None] | None = None


@dataclass
class FileFix:
    """What fixing one file did."""

    path: Path
    display: str
    applied: list[tuple[Finding, Fix]] = field(default_factory=list)  # reported findings fixed
    offered: dict[int, Fix] = field(default_factory=dict)  # id(finding) -> its fix, applied or not
    dropped: list[Finding] = field(default_factory=list)  # fixes that broke the code
    new_bytes: bytes | None = None
    diff: str = ""


def fix_file(
    path: Path,
    display: str,
    findings: Sequence[Finding],
    planner: Planner,
    relint: Relinter,
    context: FixContext,
    allowed: Callable[[Proposal], bool],
    max_bytes: int,
) -> FileFix:
    """Plan and apply the fixes of ``findings`` (all of this file) until none applies.
    ``allowed``: whether a planned fix may be applied (its code is fixable, and it is safe or
    unsafe fixes are on). ``relint``: the findings of some codes in a new version of the source,
    as targets (for the fixes that had to wait for a later pass)."""
    outcome = FileFix(path, display)
    try:
        data = read_source(path, max_bytes)
        file: _PyFile | _Notebook = _Notebook.read(data) if path.suffix == ".ipynb" else _PyFile.read(data)
    except (SourceFileError, _Unfixable):
        return outcome
    original = file.source
    lines = Lines(original)
    if isinstance(file, _Notebook):
        rows = {where: row for row, where in enumerate(file.notebook.line_map, start=1)}
        context = replace(context, notebook=True, cell_of=_cell_finder(file))
    targets: list[Target] = []
    for finding in findings:
        if finding.location is None:
            continue
        row = rows.get((finding.cell, finding.location.row)) if isinstance(file, _Notebook) else finding.location.row
        if row is None:
            continue
        start = lines.offset(row, finding.location.column - 1)
        end = None
        if finding.end_location is not None:
            end_row = (
                rows.get((finding.cell, finding.end_location.row)) if isinstance(file, _Notebook) else finding.end_location.row
            )
            end = lines.offset(end_row, finding.end_location.column - 1) if end_row is not None else None
        targets.append(Target(finding.code, start, end, finding.message, finding, node_key(original, start, end)))

    source = original
    current = file  # the file as the passes leave it (a notebook is rebuilt after each pass)
    pending = targets
    first = True
    for _ in range(MAX_PASSES):
        if not pending:
            break
        try:
            proposals = planner(source, pending, context)
        except Exception:  # noqa: BLE001 - a planner bug must never lose the user's file; the finding stays
            break
        if first:
            # Fixes on offer (applied now, or shown with ``--show-fixes`` / JSON): each must leave
            # the file parsing on its own; the others are not fixes.
            for i, (target, proposal) in enumerate(zip(pending, proposals)):
                if proposal is not None and not _fine(source, list(proposal.edits), file):
                    proposals[i] = None
                    if target.finding is not None and allowed(proposal):
                        outcome.dropped.append(target.finding)
                elif target.finding is not None and proposal is not None:
                    outcome.offered[id(target.finding)] = _as_fix(proposal, lines, file, original)
        usable = [(i, p) for i, p in enumerate(proposals) if p is not None and p.edits and allowed(p)]
        if not usable:
            break
        chosen, waiting = select(usable)
        chosen = _checked(source, chosen, pending, outcome, current)
        if not chosen:
            break
        edits = [e for _, p in chosen for e in p.edits]
        if isinstance(current, _Notebook):
            try:
                current = _Notebook.read(current.rebuilt(edits))
            except _Unfixable:
                break
            new_source = current.source
            context = replace(context, cell_of=_cell_finder(current))
        else:
            new_source = apply_edits(source, edits)
        for index, proposal in chosen:
            target = pending[index]
            if target.finding is not None:
                fix = outcome.offered.get(id(target.finding)) or _as_fix(proposal, Lines(source), current, source)
                outcome.applied.append((target.finding, fix))
        if new_source == source:
            break
        source = new_source
        first = False
        if not waiting:
            break
        pending = _relocate([pending[i] for i in waiting], relint(source, frozenset(pending[i].code for i in waiting)))
    if source == original:
        outcome.applied.clear()
        return outcome
    if isinstance(file, _PyFile):
        outcome.new_bytes = file.rebuilt(source)
        outcome.diff = file.diff(display, source)
    else:
        assert isinstance(current, _Notebook)
        outcome.new_bytes = _dump(current.document, file.style).encode("utf-8")
        outcome.diff = "".join(
            _unified(file.cells[cell], text, f"{display}:cell {cell}", f"{display}:cell {cell}")
            for cell, text in sorted(current.cells.items()) if file.cells.get(cell) != text
        )
    return outcome


def _cell_finder(notebook: _Notebook) -> Callable[[int], int | None]:
    segments = sorted((start, end, cell) for cell, (start, end) in notebook.segments.items())

    def cell_of(offset: int) -> int | None:
        for start, end, cell in segments:
            if start <= offset < end:
                return cell
        return None

    return cell_of


def _fine(source: str, edits: list[TextEdit], file: _PyFile | _Notebook | None) -> bool:
    """Do the edits leave code that parses (and, in a notebook, stay inside the cells' own lines)?"""
    if not parses(apply_edits(source, edits)):
        return False
    if isinstance(file, _Notebook):
        try:
            file.cell_edits(edits)
        except _Unfixable:
            return False
    return True


def _checked(
    source: str, chosen: list[tuple[int, Proposal]], pending: Sequence[Target], outcome: FileFix,
    notebook: _PyFile | _Notebook | None,
) -> list[tuple[int, Proposal]]:
    """The chosen fixes whose result still parses (and, in a notebook, stays inside its cells).
    All together first; when that breaks, one by one, dropping each that breaks the code."""
    if _fine(source, [e for _, p in chosen for e in p.edits], notebook):
        return chosen
    kept: list[tuple[int, Proposal]] = []
    for index, proposal in chosen:
        trial = [e for _, p in kept for e in p.edits] + list(proposal.edits)
        if _fine(source, trial, notebook):
            kept.append((index, proposal))
        elif pending[index].finding is not None:
            outcome.dropped.append(pending[index].finding)  # type: ignore[arg-type]
    return kept


def node_key(source: str, start: int, end: int | None) -> str | None:
    """What a spanned finding is about, so that it can be found again after other fixes moved or
    re-indented it: its code without whitespace."""
    return None if end is None else re.sub(r"\s+", "", source[start:end])


def _relocate(waiting: list[Target], found: list[Target]) -> list[Target]:
    """The waiting targets in the new source: a finding of the same rule on the same code, in
    order (a finding without a span, by its rule alone). Findings that were not waiting are not
    fixed: a fix changes only what was reported."""
    out: list[Target] = []
    used: set[int] = set()
    for target in waiting:
        for i, candidate in enumerate(found):
            if i not in used and candidate.code == target.code and (target.key is None or candidate.key == target.key):
                used.add(i)
                out.append(replace(candidate, finding=target.finding))
                break
        else:
            if target.key is None:
                out.append(target)  # a finding about the whole file (the project put it at an import)
    return out


def _as_fix(proposal: Proposal, lines: Lines, file: _PyFile | _Notebook | None, source: str) -> Fix:
    """A plan in display coordinates: rows and columns 1-based; a notebook's rows in their cell.
    (Later passes plan on a changed text: their fixes are reported with the first plan's edits.)"""
    edits = []
    for edit in sorted(set(proposal.edits), key=lambda e: (e.start, e.end)):
        if isinstance(file, _Notebook):
            try:
                per_cell = file.cell_edits([edit])
            except _Unfixable:
                continue
            for cell, (own,) in per_cell.items():
                start, end = file.segments[cell]
                cell_lines = Lines(source[start:end])
                (row, col), (end_row, end_col) = cell_lines.position(own.start), cell_lines.position(own.end)
                edits.append(Edit(own.content, Location(row, col + 1), Location(end_row, end_col + 1), cell))
            continue
        (row, col), (end_row, end_col) = lines.position(edit.start), lines.position(edit.end)
        edits.append(Edit(edit.content, Location(row, col + 1), Location(end_row, end_col + 1)))
    return Fix(proposal.applicability, proposal.message, tuple(edits))


# -- a whole lint run ------------------------------------------------------------------------


@dataclass
class FixRun:
    """What ``lint --fix`` (or ``--diff``, or planning alone) did over the findings of a run."""

    files: list[FileFix] = field(default_factory=list)
    # Fixes planned for findings, applied or not (``--show-fixes``, JSON ``fix``): id(finding) -> Fix.
    offered: dict[int, Fix] = field(default_factory=dict)

    @property
    def changed(self) -> list[FileFix]:
        return [f for f in self.files if f.new_bytes is not None]

    @property
    def applied(self) -> list[tuple[str, Finding, Fix]]:
        return [(f.display, finding, fix) for f in self.changed for finding, fix in f.applied]

    @property
    def diff(self) -> str:
        return "".join(f.diff for f in self.changed)


def fix_findings(
    findings: Sequence[Finding],
    linter: Any,
    cwd: Path,
    *,
    write: bool,
    unsafe: bool,
    seeders: Mapping[str, Mapping[str, frozenset[str]]] | None = None,
) -> FixRun:
    """Plan (and with ``write``, apply and save) the fixes of ``findings``, the result of a lint
    run with ``linter`` (``engine.Linter``). Only findings of rules with a fix that the
    configuration leaves fixable are touched; libcst is imported only when there is one."""
    from mlrepro.registry import fixable_codes

    fixable = fixable_codes(linter.settings, [c for c, rule in linter.rules.items() if rule.fix_applicability])
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.code in fixable and finding.filename is not None and finding.location is not None:
            grouped.setdefault(finding.filename, []).append(finding)
    run = FixRun()
    if not grouped:
        return run
    from mlrepro.lint import fixes  # libcst: only now

    def allowed(proposal: Proposal) -> bool:
        return proposal.applicability == SAFE or unsafe

    for display, group in grouped.items():
        path = Path(display) if Path(display).is_absolute() else cwd / display
        file_seeders = (seeders or {}).get(display, {})
        context = FixContext(display, path.suffix == ".ipynb", linter.settings.seed_functions, file_seeders)
        outcome = fix_file(
            path, display, group, fixes.plan, _relinter(linter, display, file_seeders), context, allowed,
            linter.settings.max_file_bytes,
        )
        run.files.append(outcome)
        run.offered.update(outcome.offered)
        if write and outcome.new_bytes is not None:
            path.write_bytes(outcome.new_bytes)
    return run


def _relinter(linter: Any, display: str, seeders: Mapping[str, frozenset[str]]) -> Relinter:
    """The findings of some rules in a new version of a file's source, as targets: how a fix
    that waited for a later pass finds its finding again."""
    from mlrepro.lint.context import ModuleContext
    from mlrepro.suppression import line_suppresses

    def relint(source: str, codes: frozenset[str]) -> list[Target]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return []
        ctx = ModuleContext.build(display, source, tree, linter.settings.seed_functions, seeders)
        lines = Lines(source)
        found: list[Target] = []
        for code in sorted(codes):
            check = linter.checks.get(code)
            if check is None:
                continue
            for node, message in check(ctx):
                row = getattr(node, "lineno", 1)
                if line_suppresses(ctx.line(row), code):
                    continue
                start = lines.offset(row, ctx.column(row, getattr(node, "col_offset", 0)) - 1)
                end_row = getattr(node, "end_lineno", None)
                end = lines.offset(end_row, ctx.column(end_row, node.end_col_offset) - 1) if end_row else None  # type: ignore[attr-defined]
                found.append(Target(code, start, end, message, None, node_key(source, start, end)))
        return found

    return relint
