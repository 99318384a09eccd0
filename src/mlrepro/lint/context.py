"""What a lint check sees of one module: its tree, its imports, and the nodes that matter.

Walking every node of every file would cost more than parsing it, so the walk is pruned to
"hot" lines: lines whose text mentions something a check cares about (a name bound to an
interesting module such as ``np.random`` or ``torch``, a seed helper, a data path literal).
A node is visited only when its line span contains a hot line, so a 3,000-line library
module with one ``np.random.rand`` call costs a few dozen node visits, not 40,000.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

# Qualified-name prefixes whose uses the checks look at. A local binding that is (or is
# under) one of these makes every line that names it hot; a binding *above* one of these
# (``np`` for ``numpy.random``) makes hot only the lines that spell the rest of the path.
INTERESTS: tuple[str, ...] = (
    "random", "numpy.random", "torch", "tensorflow", "keras", "tf_keras", "jax.random",
    "sklearn", "xgboost", "lightgbm", "catboost", "pandas", "wandb", "mlflow", "transformers",
    "lightning", "pytorch_lightning", "lightning_fabric", "accelerate", "time", "os.urandom",
    "os.environ", "secrets", "uuid", "datetime", "argparse",
    # Model zoos (conv nets for the cuDNN rules), GPU pickers, trainers that seed.
    "torchvision.models", "timm", "segmentation_models_pytorch", "deepspeed.accelerator", "deepspeed.get_accelerator",
    "sentence_transformers", "trl", "diffusers",
)

# Interests of which only a few names matter: check modules register them (see
# ``narrow_interest``), so that ``from sklearn.utils._testing import assert_allclose`` does not
# make every assertion line of a test module hot.
_NARROWED: dict[str, frozenset[str]] = {}


def narrow_interest(prefix: str, names: Iterable[str]) -> None:
    """Under ``prefix``, only bindings whose last component is one of ``names`` (or that look
    like modules: ``sklearn``, ``from sklearn import ensemble``) make lines hot."""
    _NARROWED[prefix] = _NARROWED.get(prefix, frozenset()) | frozenset(names)


def _matters(interest: str, qualified: str) -> bool:
    names = _NARROWED.get(interest)
    if names is None:
        return True
    parts = qualified.split(".")
    return parts[-1] in names or (len(parts) <= 2 and parts[-1].islower())


# Not imports but randomness sources and trackers: a module importing only these (``os``,
# ``time``, ``argparse``) has nothing for the seed or tracking rules to check.
SUPPORT_INTERESTS = frozenset({"time", "os.urandom", "os.environ", "secrets", "uuid", "datetime", "argparse"})

_TF = ("tensorflow", "keras", "tf_keras")
_TORCH = ("torch", "lightning", "pytorch_lightning", "lightning_fabric", "accelerate", "transformers")
# Text that makes a line hot although it names no import: methods on objects we cannot resolve
# statically, and attributes checks inspect. Each applies when the module imports one of the
# listed interests (empty: any non-support interest). Plain substrings, matched
# case-sensitively: a literal search runs at memchr speed, while one regex alternation of
# them costs more than parsing the file.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "seed": (), "Seed": (), "SEED": (), "determinis": (), "Determinis": (), "add_argument": (),
    ".sample": ("pandas",),
    ".shuffle": _TF,
    ".fit(": _TF,
    "cudnn": _TORCH,
    "cuda": _TORCH,
    "DataLoader": _TORCH,
    "trainer_defaults": _TORCH,  # LightningCLI subclasses defined in another module
    ".flow": _TF,  # ImageDataGenerator(...).flow(...) on a name bound elsewhere
    "log_model": ("mlflow",),
    "start_run": ("mlflow",),
    "end_run": ("mlflow",),
    "finish": ("wandb",),
    # Model URIs that name a run or a version (MLR305 follows a URI assigned to a name).
    "runs:/": ("mlflow",),
    "models:/": ("mlflow",),
}
# Absolute paths in string literals: a quote, then "/", "~/" or a drive letter. Found by
# searching the literal quote-slash pairs; a character-class regex would scan 5x slower.
_PATH_STARTS: tuple[str, ...] = ('"/', "'/", '"~', "'~")
_DRIVE = re.compile(r":[\\/]")

_KEYWORD_RXS = {k: re.compile(re.escape(k)) for k in KEYWORDS}
_PATH_RXS = tuple(re.compile(re.escape(k)) for k in _PATH_STARTS)
_IMPORT_RX = re.compile("import")


@dataclass(frozen=True)
class Site:
    """A visited node and its ancestors (outermost first)."""

    node: ast.AST
    ancestors: tuple[ast.AST, ...]

    def enclosing(self, *types: type[ast.AST]) -> ast.AST | None:
        for ancestor in reversed(self.ancestors):
            if isinstance(ancestor, types):
                return ancestor
        return None

    @property
    def function(self) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        found = self.enclosing(ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        return found if isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _lines_at(text: str, positions: Iterable[int]) -> set[int]:
    """1-based line numbers of character offsets, counting newlines once, left to right."""
    lines: set[int] = set()
    line, last = 1, 0
    count = text.count
    for pos in sorted(positions):
        line += count("\n", last, pos)
        last = pos
        lines.add(line)
    return lines


def _starts(rx: re.Pattern[str], text: str) -> Iterator[int]:
    return (m.start() for m in rx.finditer(text))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


@dataclass
class ModuleContext:
    path: str
    source: str
    tree: ast.Module
    seed_functions: tuple[str, ...] = ()
    # Seeding helpers defined elsewhere in the project, by the qualified name this module calls
    # them with (``utils.set_seed``, or ``.utils.set_seed`` through a relative import): the
    # generators each one seeds. Filled by the project index.
    project_seeders: Mapping[str, frozenset[str]] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    _by_type: dict[type, list[tuple[ast.AST, tuple[ast.AST, ...]]]] = field(default_factory=lambda: defaultdict(list))
    _seen: set[int] = field(default_factory=set)
    _lines: list[str] | None = None
    _sites: dict[tuple[type, ...], list[Site]] = field(default_factory=dict)
    _call_names: dict[int, str | None] = field(default_factory=dict)
    # Analyses that several checks share (seed state, ...), computed once per module.
    memo: dict[str, object] = field(default_factory=dict)

    @classmethod
    def build(
        cls, path: str, source: str, tree: ast.Module, seed_functions: tuple[str, ...] = (),
        project_seeders: Mapping[str, frozenset[str]] | None = None,
    ) -> ModuleContext:
        ctx = cls(path=path, source=source, tree=tree, seed_functions=tuple(seed_functions), project_seeders=project_seeders or {})
        ctx._visit(_lines_at(source, _starts(_IMPORT_RX, source)))
        for site in ctx.sites(ast.Import, ast.ImportFrom):
            ctx._bind_import(site.node)  # type: ignore[arg-type]
        ctx._visit(ctx._hot_lines())
        return ctx

    # -- imports ---------------------------------------------------------------------------
    def _bind_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".", 1)[0]
                    self.imports[top] = top
        elif node.level == 0 and node.module:
            for alias in node.names:
                if alias.name != "*":
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        else:
            # Relative imports name project modules: ``from .utils import set_seed`` binds
            # ``.utils.set_seed``, a name no framework prefix matches but the project index knows.
            base = "." * node.level + (f"{node.module}." if node.module else "")
            for alias in node.names:
                if alias.name != "*":
                    self.imports[alias.asname or alias.name] = base + alias.name

    def _binding_patterns(self) -> tuple[set[str], set[str]]:
        """Regexes for the lines that use an interesting binding, and the interests imported.
        Each regex starts with the local name itself (a literal, so the search is fast); word
        boundaries are checked after."""
        patterns: set[str] = set()
        touched: set[str] = set()
        from mlrepro.lint.seeding import looks_like_seed_helper  # it imports this module

        interests = INTERESTS + tuple(self.seed_functions) + tuple(self.project_seeders)
        for local, qualified in self.imports.items():
            if looks_like_seed_helper(qualified):
                # A project helper named like a seeder (``seed_all_rng``): its calls are what a
                # setup helper seeds through, even in a module that imports no framework.
                patterns.add(re.escape(local) + r"\b")
            for interest in interests:
                if qualified == interest or qualified.startswith(interest + "."):
                    if _matters(interest, qualified):
                        patterns.add(re.escape(local) + r"\b")
                    touched.add(interest)
                    break
                if interest.startswith(qualified + "."):
                    rest = interest[len(qualified) + 1 :].split(".")
                    patterns.add(re.escape(local) + "".join(rf"\s*\.\s*{re.escape(p)}\b" for p in rest))
                    touched.add(interest)
        return patterns, touched

    def _hot_lines(self) -> set[int]:
        source = self.source
        positions: list[int] = []
        patterns, touched = self._binding_patterns()
        if touched - SUPPORT_INTERESTS:
            for keyword, requires in KEYWORDS.items():
                if not requires or any(r in touched for r in requires):
                    positions.extend(_starts(_KEYWORD_RXS[keyword], source))
        for rx in _PATH_RXS:
            positions.extend(_starts(rx, source))
        for match in _DRIVE.finditer(source):  # C:\\ or D:/ right after a quote
            start = match.start()
            if start >= 2 and source[start - 1].isalpha() and source[start - 2] in "\"'":
                positions.append(start)
        for pattern in patterns:
            for match in re.finditer(pattern, source):
                start = match.start()
                if start == 0 or not _is_word_char(source[start - 1]):
                    positions.append(start)
        return _lines_at(source, positions)

    def include_names(self, names: Iterable[str]) -> None:
        """Also visit lines that mention these identifiers (e.g. calls to a local helper)."""
        source = self.source
        positions = [
            m.start()
            for name in set(names)
            for m in re.finditer(re.escape(name) + r"\b", source)
            if m.start() == 0 or not _is_word_char(source[m.start() - 1])
        ]
        self._visit(_lines_at(source, positions))

    # -- the pruned walk -------------------------------------------------------------------
    def _visit(self, lines: set[int]) -> None:
        if not lines:
            return
        new = sorted(lines)
        n_new = len(new)
        seen = self._seen
        by_type = self._by_type
        path: list[ast.AST] = []
        stack: list[tuple[ast.AST, int]] = [(self.tree, 0)]
        pop, push = stack.pop, stack.append
        AST = ast.AST
        self._sites.clear()  # the walk grows: cached site lists would miss the new nodes
        while stack:
            node, depth = pop()
            del path[depth:]
            lineno = getattr(node, "lineno", None)
            if lineno is not None:
                i = bisect_left(new, lineno)
                if i == n_new or new[i] > node.end_lineno:  # type: ignore[attr-defined]
                    continue
            key = id(node)
            if key not in seen:
                seen.add(key)
                # A plain tuple: Site objects are built only for the types a check asks for.
                by_type[type(node)].append((node, tuple(path)))
            path.append(node)
            depth += 1
            # Children go on the stack in any order: sites() sorts by position.
            for name in node._fields:
                value = getattr(node, name, None)
                if type(value) is list:
                    for item in value:
                        if isinstance(item, AST):
                            push((item, depth))
                elif isinstance(value, AST) and value._fields:
                    push((value, depth))

    def sites(self, *types: type[ast.AST]) -> list[Site]:
        """Visited nodes of these types, in source order."""
        found = self._sites.get(types)
        if found is None:
            raw = [Site(node, ancestors) for t in types for node, ancestors in self._by_type.get(t, ())]
            found = self._sites[types] = sorted(raw, key=_pos)
        return found

    @property
    def calls(self) -> list[Site]:
        return self.sites(ast.Call)

    # -- names -----------------------------------------------------------------------------
    def qualname(self, expr: ast.AST) -> str | None:
        """``np.random.rand`` -> ``numpy.random.rand`` when ``np`` is numpy; else None."""
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        base = self.imports.get(expr.id)
        if base is None:
            return None
        return ".".join([base, *reversed(parts)])

    def call_name(self, call: ast.Call) -> str | None:
        key = id(call)
        names = self._call_names
        if key not in names:
            names[key] = self.qualname(call.func)
        return names[key]

    def resolved_calls(self) -> list[tuple[Site, str]]:
        """(site, qualified name) of every call whose callee resolves through the imports;
        computed once, since every seed rule scans the same calls."""
        found = self._sites.get(_RESOLVED)
        if found is None:
            found = [(site, name) for site in self.calls if (name := self.call_name(site.node)) is not None]  # type: ignore[arg-type]
            self._sites[_RESOLVED] = found  # type: ignore[assignment]
        return found  # type: ignore[return-value]

    def calls_matching(self, predicate: Callable[[str], bool]) -> Iterator[tuple[Site, str]]:
        """(site, qualified name) of every resolved call for which ``predicate(name)`` holds."""
        return ((site, name) for site, name in self.resolved_calls() if predicate(name))

    def imports_any(self, *prefixes: str) -> bool:
        return any(q == p or q.startswith(p + ".") for q in self.imports.values() for p in prefixes)

    # -- text ------------------------------------------------------------------------------
    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.source.splitlines()
        return self._lines

    def line(self, row: int) -> str:
        lines = self.lines
        return lines[row - 1] if 0 < row <= len(lines) else ""

    def column(self, row: int, col_offset: int) -> int:
        """ast gives UTF-8 byte offsets; users count characters (1-based)."""
        text = self.line(row)
        if text.isascii():
            return col_offset + 1
        return len(text.encode("utf-8")[:col_offset].decode("utf-8", "replace")) + 1


_RESOLVED: tuple[type, ...] = (type(None),)  # the cache key of resolved_calls()


def _pos(site: Site) -> tuple[int, int]:
    return (getattr(site.node, "lineno", 0), getattr(site.node, "col_offset", 0))


def mentions(expr: ast.AST, word: str) -> bool:
    """Does a name or attribute inside ``expr`` contain ``word`` (case-insensitive)?
    ``if args.seed is not None`` mentions "seed"; ``if is_best:`` mentions "best"."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and word in node.id.lower():
            return True
        if isinstance(node, ast.Attribute) and word in node.attr.lower():
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and word in node.value.lower():
            return True  # ``if cfg.get("seed"):``, ``if "seed" in cfg:``
    return False


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def has_kwargs_splat(call: ast.Call) -> bool:
    """``f(**params)``: the argument may be in there, so checks stay quiet."""
    return any(kw.arg is None for kw in call.keywords)


def is_none(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


def constant(expr: ast.AST | None) -> object:
    """The literal value of a constant (``-1`` included), or a sentinel when not a literal."""
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub) and isinstance(expr.operand, ast.Constant):
        value = expr.operand.value
        if isinstance(value, (int, float)):
            return -value
    return NOT_CONSTANT


NOT_CONSTANT = object()
