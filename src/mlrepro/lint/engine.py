"""The lint engine: file -> source -> tree -> context -> checks -> findings.

Never prints, never exits. A file we cannot read as Python is a finding (MLR001-MLR003),
not an exception, so one broken file never hides the findings of the others.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import os
import tokenize
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlrepro.config import Settings
from mlrepro.findings import Finding, Location, sort_findings
from mlrepro.lint import meta
from mlrepro.lint.context import ModuleContext
from mlrepro.lint.facts import ModuleFacts, module_facts
from mlrepro.lint.discovery import discover, relative_posix
from mlrepro.lint.notebook import NotebookError, NotebookSource, read_notebook
from mlrepro.lint.source_file import SourceFileError, read_source, relative_to, safe_resolve, wide_encoding
from mlrepro.registry import Rule, bind, enabled_codes, rules_for
from mlrepro.selection import PathMatcher
from mlrepro.suppression import file_suppression, line_suppresses

Check = Callable[[ModuleContext], Iterable[tuple[ast.AST, str]]]

# Below this many files a process pool costs more than it saves.
PARALLEL_MIN_FILES = 48
_META = {meta.SYNTAX_ERROR, meta.UNDECODABLE, meta.INVALID_NOTEBOOK}


@dataclass(frozen=True)
class LintResult:
    findings: list[Finding]
    checked: tuple[str, ...]  # display paths of every file linted
    # Display path -> the project's seeding helpers as that module calls them (project-wide
    # lint only): ``lint --fix`` judges a file's seeds as the lint did.
    seeders: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)


class _Undecodable(Exception):
    pass


def _decode(data: bytes) -> str:
    wide = wide_encoding(data)
    if wide is not None:
        raise _Undecodable(f"{wide} encoded; mlrepro reads UTF-8, as Python does: re-save the file as UTF-8")
    if b"\0" in data:
        raise _Undecodable("binary content (NUL bytes); not a Python source file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # PEP 263: a coding cookie may declare another encoding.
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError:
            encoding = "utf-8"
        if encoding in ("utf-8", "utf-8-sig"):
            raise _Undecodable(f"not valid UTF-8 ({exc.reason} at byte {exc.start}) and no coding declaration") from None
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as inner:
            raise _Undecodable(f"cannot decode as declared {encoding}: {inner}") from None
    return text[1:] if text.startswith("\ufeff") else text


class Linter:
    """Lints files under one set of settings. Cheap to build; holds the bound checks."""

    def __init__(self, settings: Settings, rules: Sequence[Rule] | None = None) -> None:
        self.settings = settings
        self.rules = {rule.code: rule for rule in (rules if rules is not None else rules_for("code"))}
        self.enabled = enabled_codes(settings, self.rules)
        self.checks: dict[str, Check] = {
            code: bind(rule) for code, rule in self.rules.items() if code in self.enabled and code not in _META  # type: ignore[misc]
        }
        self.per_file = [(PathMatcher((glob,)), codes) for glob, codes in settings.per_file_ignores]

    def _enabled_for(self, path: Path) -> set[str]:
        codes = set(self.enabled)
        if self.per_file:
            rel = relative_posix(path, self.settings.root)
            for matcher, prefixes in self.per_file:
                if matcher.matches(rel):
                    codes = {c for c in codes if not any(c.startswith(p) for p in prefixes)}
        return codes

    def _finding(
        self, code: str, message: str, display: str, row: int, col: int, end: Location | None, notebook: NotebookSource | None
    ) -> Finding:
        rule = self.rules[code]
        cell = None
        if notebook is not None:
            cell, row = notebook.locate(row)
            if end is not None:
                end_cell, end_row = notebook.locate(end.row)
                end = Location(end_row, end.column) if end_cell == cell else None
        return Finding(
            code=code, name=rule.name, message=message, severity=rule.severity, filename=display,
            location=Location(row, col), end_location=end, cell=cell, fix=rule.fix, url=rule.url,
        )

    def lint_file(self, path: Path, display: str | None = None) -> list[Finding]:
        return self.analyse(path, display)[0]

    def analyse(
        self, path: Path, display: str | None = None, project_seeders: Mapping[str, frozenset[str]] | None = None,
        want_facts: bool = False,
    ) -> tuple[list[Finding], ModuleFacts | None]:
        """The file's findings and, when asked, the facts the project index keeps of it (None
        for a file that does not parse)."""
        display = display or path.as_posix()
        enabled = self._enabled_for(path)
        notebook: NotebookSource | None = None
        try:
            data = read_source(path, self.settings.max_file_bytes)
        except SourceFileError as exc:
            return self._meta(enabled, meta.UNDECODABLE, display, 1, 1, str(exc), None), None
        if path.suffix == ".ipynb":
            try:
                notebook = read_notebook(data)
            except NotebookError as exc:
                return self._meta(enabled, meta.INVALID_NOTEBOOK, display, 1, 1, meta.invalid_notebook(exc), None), None
            source = notebook.source
        else:
            try:
                source = _decode(data)
            except _Undecodable as exc:
                return self._meta(enabled, meta.UNDECODABLE, display, 1, 1, meta.undecodable(exc), None), None
        suppressed = file_suppression(source)
        if suppressed is not None:
            enabled = {code for code in enabled if not suppressed.covers(code)}
        if not enabled and not want_facts:
            return [], None
        try:
            # The parser warns about the code it reads (``1if x``, ``"\\d"``) on stderr: not ours to
            # print, and it would land outside the findings' format.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source, filename=display)
        except SyntaxError as exc:
            row, col, message = meta.syntax_error(exc)
            return self._meta(enabled, meta.SYNTAX_ERROR, display, row, col, message, notebook), None
        except (ValueError, RecursionError, MemoryError) as exc:
            return self._meta(enabled, meta.SYNTAX_ERROR, display, 1, 1, meta.unparsable(exc), notebook), None
        active = {code: check for code, check in self.checks.items() if code in enabled}
        if not active and not want_facts:
            return [], None
        ctx = ModuleContext.build(display, source, tree, self.settings.seed_functions, project_seeders)
        findings: list[Finding] = []
        for code, check in active.items():
            for node, message in check(ctx):
                row = getattr(node, "lineno", 1)
                if line_suppresses(ctx.line(row), code):
                    continue
                col = ctx.column(row, getattr(node, "col_offset", 0))
                end_row = getattr(node, "end_lineno", None)
                end = Location(end_row, ctx.column(end_row, node.end_col_offset)) if end_row else None  # type: ignore[attr-defined]
                findings.append(self._finding(code, message, display, row, col, end, notebook))
        if not want_facts:
            return findings, None
        try:
            facts = module_facts(ctx, tree, notebook is not None)
        except RecursionError:
            facts = None
        return findings, facts

    def _meta(
        self, enabled: set[str], code: str, display: str, row: int, col: int, message: str, nb: NotebookSource | None
    ) -> list[Finding]:
        if code not in enabled:
            return []
        return [self._finding(code, message, display, row, col, None, nb)]


def display_path(path: Path, cwd: Path) -> str:
    found = relative_to(path, cwd)
    return found if found is not None else path.as_posix()


_WORKER: Linter | None = None


def _init_worker(settings: Settings) -> None:
    global _WORKER
    gc.disable()
    _WORKER = Linter(settings)


def _lint_in_worker(item: tuple[str, str]) -> list[Finding]:
    assert _WORKER is not None
    return _WORKER.lint_file(Path(item[0]), item[1])


def lint_paths(
    paths: Iterable[Path], settings: Settings, cwd: Path | None = None, jobs: int | None = None,
    linter: Linter | None = None, project: bool = True, cache: bool = True,
) -> LintResult:
    """Lint every file the paths name. ``jobs``: worker processes (default: one per core for
    large trees, none for small ones). ``project``: read the rest of the project to judge them
    (``project_run``); ``cache``: keep results in ``.mlrepro_cache/`` for the next run."""
    cwd = (cwd or Path.cwd()).resolve()
    paths = list(paths)
    files = discover(paths, settings)
    items = [(str(path), display_path(path, cwd)) for path in files]
    linter = linter or Linter(settings)
    if project and items:
        from mlrepro.lint.project_run import ProjectLinter, project_root

        root = project_root(settings.root, settings.config_path is not None, cwd, files)
        # ``mlrepro lint .`` at the project root names the project itself: walk it once.
        project_files = files if any(p.is_dir() and safe_resolve(p) == root for p in paths) else discover([root], settings)
        project_linter = ProjectLinter(linter, root, cwd, use_cache=cache)
        with _no_cyclic_gc():
            findings = project_linter.lint(files, project_files, _workers(jobs, len(project_files)))
        return LintResult(sort_findings(findings), tuple(display for _, display in items), project_linter.seeders)
    workers = _workers(jobs, len(items))
    findings: list[Finding] = []
    if workers > 1 and len(items) > 1:
        from concurrent.futures import ProcessPoolExecutor  # ~20 ms of imports: only when used

        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(settings,)) as pool:
            for batch in pool.map(_lint_in_worker, items, chunksize=8):
                findings.extend(batch)
    else:
        with _no_cyclic_gc():
            for path, display in items:
                findings.extend(linter.lint_file(Path(path), display))
    return LintResult(sort_findings(findings), tuple(display for _, display in items))


def _workers(jobs: int | None, files: int) -> int:
    """Worker processes: as asked, else one per core (at most 8) for large trees."""
    return jobs if jobs is not None else (min(os.cpu_count() or 1, 8) if files >= PARALLEL_MIN_FILES else 1)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """ASTs hold no reference cycles; the cyclic collector only burns time rescanning them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
