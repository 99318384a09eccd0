"""The fixes themselves: for each fixable rule, the text edits that repair one finding.

Planned on libcst's concrete syntax tree, which keeps every token, comment and blank line:
node positions come from it, a ``with`` block is built from the statements it wraps (libcst
re-indents them and leaves multi-line strings alone), and each fix becomes the smallest edits
that turn the old text into the new one. Imported only by ``fixing.py`` when a file has a
finding to fix (libcst takes about a second to import).

Applicability, in ruff's sense (``safe`` fixes keep the meaning of the code): here a fix is
safe when the code it changes gave a different result on every run, so that the fixed program
computes one of the results the original could already produce (``random_state=SEED`` on an
estimator that drew from an unseeded NumPy). It is unsafe when the code it changes was
already repeatable (a library's fixed default seed, a NumPy generator this file seeds), when
it overrides a choice the code made on purpose (``benchmark = True``, a seed only when asked),
or when it moves where something happens (a run closed at the end of a ``with`` block instead
of at exit, generators seeded at import time).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from mlrepro.lint.context import ModuleContext
from mlrepro.lint.fixing import SAFE, UNSAFE, FixContext, Lines, Proposal, Target, TextEdit, text_edits
from mlrepro.lint.seeding import NUMPY, TORCH, seed_state


class Unfixable(Exception):
    """This finding has no fix here (the code is not in a shape the fix knows)."""


# Names that say "this is the run's seed" (compared lower-case).
SEED_NAMES = frozenset({"seed", "random_seed", "random_state", "rng_seed", "global_seed", "base_seed"})
_NEW_SEED_NAMES = ("SEED", "RANDOM_SEED", "GLOBAL_SEED")
# Parameter names that hold parsed command-line options.
_NAMESPACES = frozenset({"args", "opt", "opts", "options", "cli_args", "flags", "hparams"})
_SEED_FLAGS = re.compile(r"^--?(?P<name>(?:random[-_]?)?seed|random[-_]state)$", re.I)


@dataclass(frozen=True)
class Seed:
    """The expression a fix passes as the seed, and the edits that define it (none when it is
    already there)."""

    text: str
    edits: tuple[TextEdit, ...] = ()
    module_statement: int | None = None  # index in the module body of the statement defining it


class Doc:
    """One version of a file's source: its libcst tree with positions, its ``ast`` tree and the
    linter's view of it."""

    def __init__(self, source: str, targets: Sequence[Target], context: FixContext) -> None:
        self.source = source
        self.context = context
        self.lines = Lines(source)
        self.module = cst.parse_module(source)
        wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        self.positions = wrapper.resolve(PositionProvider)
        self.parents = wrapper.resolve(ParentNodeProvider)
        self.tree = ast.parse(source)
        self.newline = self.module.default_newline
        self.calls: dict[int, cst.Call] = {}
        self.ends: dict[int, list[cst.CSTNode]] = {}
        for node, where in self.positions.items():
            end = self.lines.offset(where.end.line, where.end.column)
            if isinstance(node, cst.Call):
                self.calls[end] = node
            self.ends.setdefault(end, []).append(node)
        self.targets = targets
        self._ctx: ModuleContext | None = None
        self._ast_calls: dict[int, tuple[ast.Call, tuple[ast.AST, ...]]] | None = None
        self._names: set[str] | None = None
        self._new_seed: Seed | None | bool = False

    # -- positions ---------------------------------------------------------------------------
    def span(self, node: cst.CSTNode) -> tuple[int, int]:
        where = self.positions[node]
        return self.lines.offset(where.start.line, where.start.column), self.lines.offset(where.end.line, where.end.column)

    def call_at(self, target: Target) -> cst.Call:
        call = self.calls.get(target.end) if target.end is not None else None
        if call is None:
            raise Unfixable
        return call

    def ast_offset(self, row: int, col: int) -> int:
        line = self.source[self.lines.starts[row - 1] : self.lines.line_end(self.lines.starts[row - 1])]
        chars = col if line.isascii() else len(line.encode("utf-8")[:col].decode("utf-8", "replace"))
        return self.lines.offset(row, chars)

    def ast_call(self, end: int) -> tuple[ast.Call, tuple[ast.AST, ...]]:
        """The ``ast`` call ending at ``end`` and its ancestors (outermost first)."""
        if self._ast_calls is None:
            found: dict[int, tuple[ast.Call, tuple[ast.AST, ...]]] = {}
            stack: list[tuple[ast.AST, tuple[ast.AST, ...]]] = [(self.tree, ())]
            while stack:
                node, ancestors = stack.pop()
                if isinstance(node, ast.Call):
                    found[self.ast_offset(node.end_lineno, node.end_col_offset)] = (node, ancestors)  # type: ignore[arg-type]
                inner = (*ancestors, node)
                stack.extend((child, inner) for child in ast.iter_child_nodes(node))
            self._ast_calls = found
        found_call = self._ast_calls.get(end)
        if found_call is None:
            raise Unfixable
        return found_call

    @property
    def ctx(self) -> ModuleContext:
        if self._ctx is None:
            self._ctx = ModuleContext.build(
                self.context.display, self.source, self.tree, self.context.seed_functions, self.context.project_seeders
            )
        return self._ctx

    def same_cell(self, start: int, end: int) -> bool:
        cell_of = self.context.cell_of
        return cell_of is None or cell_of(start) == cell_of(max(start, end - 1))

    # -- names -------------------------------------------------------------------------------
    @property
    def names(self) -> set[str]:
        """Every identifier the module binds or reads anywhere (a new name must be none of them)."""
        if self._names is None:
            names: set[str] = set()
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Name):
                    names.add(node.id)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.arg):
                    names.add(node.arg)
                elif isinstance(node, ast.alias):
                    names.add((node.asname or node.name).split(".", 1)[0])
                elif isinstance(node, (ast.Global, ast.Nonlocal)):
                    names.update(node.names)
            self._names = names
        return self._names

    def free_for(self, name: str, module: str) -> bool:
        """Can ``import module`` (as ``name``) be added: the name is unused, or only ever bound
        by importing that same module (a later cell's ``import torch``)?"""
        if name not in self.names:
            return True
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if (alias.asname or alias.name.split(".", 1)[0]) == name and (
                        alias.name != module if alias.asname else alias.name.split(".", 1)[0] != module
                    ):
                        return False
            elif isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
                return False
            elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, (ast.Store, ast.Del)):
                return False
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                return False
            elif isinstance(node, ast.arg) and node.arg == name:
                return False
            elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
                return False
        return True

    def module_import(self, qualified: str, before: int | None = None) -> str | None:
        """The name a top-level import binds to module ``qualified`` (``np`` for numpy); only an
        import that comes before offset ``before`` when given (a notebook often imports torch
        in a later cell than the one where the fix goes)."""
        for statement in self.tree.body:
            if before is not None and self.ast_offset(statement.lineno, statement.col_offset) >= before:
                break
            for node in _top_level_imports(statement):
                for alias in node.names:
                    if isinstance(node, ast.Import):
                        if alias.asname and alias.name == qualified:
                            return alias.asname
                        if not alias.asname and alias.name.split(".", 1)[0] == qualified:
                            return qualified
                    elif node.level == 0 and node.module and f"{node.module}.{alias.name}" == qualified and alias.name != "*":
                        return alias.asname or alias.name
        return None

    def module_path(self, qualified: str, before: int | None = None) -> str | None:
        """An expression for module ``qualified`` through a top-level import (before offset
        ``before``): ``np.random`` for numpy.random when numpy is imported as np."""
        parts = qualified.split(".")
        for i in range(len(parts), 0, -1):
            base = self.module_import(".".join(parts[:i]), before)
            if base is not None:
                return ".".join([base, *parts[i:]])
        return None

    # -- where module-level statements go ----------------------------------------------------
    def top_index(self, offset: int) -> int:
        """The index in the module body of the top-level statement holding ``offset``."""
        for index, statement in enumerate(self.module.body):
            _, end = self.span(statement)
            if offset < self.lines.line_end(max(end - 1, 0)):
                return index
        return len(self.module.body)

    def first_use(self, skip: int | None = None) -> int:
        """Module-level lines a fix adds go before this top-level statement: the first one that
        runs code (not an import, a definition, a constant, a ``print`` or a logging or warnings
        setting; nor statement ``skip``, the seed's definition), or that holds a finding being
        fixed in this pass."""
        body = self.module.body
        first = next((i for i, s in enumerate(body) if i != skip and not _inert(s, i)), len(body))
        spanned = [self.top_index(t.start) for t in self.targets if t.end is not None]
        return min([first, *spanned])

    def insertion(self, before: int, after: int | None = None) -> tuple[int, int]:
        """Where module-level lines go: after the last top-level import (or the docstring) ahead
        of statement ``before``, or right after statement ``after`` (the seed's definition) when
        that comes later; before the first statement otherwise. Returns (offset, index of the
        statement it follows, -1 for none)."""
        body = self.module.body
        index = -1
        for i, statement in enumerate(body[:before]):
            if _is_import_block(statement) or (i == 0 and _is_docstring(statement)):
                index = i
        if after is not None and after > index:
            index = after
        if index >= before or not body:
            raise Unfixable
        if index < 0:
            return self.span(body[0])[0] - self.positions[body[0]].start.column, -1
        return self.lines.line_end(self.span(body[index])[1]), index

    def lines_after_imports(
        self, lines: Sequence[str], before: int, after: int | None = None, imports: Sequence[str] = ()
    ) -> TextEdit:
        """Insert ``imports`` and then ``lines`` at module level, at :meth:`insertion`."""
        offset, index = self.insertion(before, after)
        nl = self.newline
        new_imports = "".join(f"{line}{nl}" for line in imports)
        block = "".join(f"{line}{nl}" for line in lines)
        if index < 0:
            return TextEdit(offset, offset, new_imports + (nl if imports else "") + block + nl)
        head = nl if offset == len(self.source) and not self.source.endswith(("\n", "\r")) else ""
        if after is not None and index == after:
            return TextEdit(offset, offset, head + new_imports + block)
        if _is_import_block(self.module.body[index]):
            return TextEdit(offset, offset, head + new_imports + nl + block)
        return TextEdit(offset, offset, head + nl + new_imports + (nl if imports else "") + block)

    # -- the seed ----------------------------------------------------------------------------
    def seed_at(self, end: int) -> Seed:
        """The seed for a call ending at ``end``: the run's seed when one is plainly in scope
        (a ``seed`` parameter or local, ``args.seed`` of an argparse ``--seed`` option with a
        default, a module-level ``SEED = 42``), else a module-level ``SEED = 0`` added once."""
        call, ancestors = self.ast_call(end)
        function = next(
            (a for a in reversed(ancestors) if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))), None
        )
        if isinstance(function, ast.Lambda):
            function = None
        if function is not None:
            local = _local_seed(function, call.lineno)
            if local is not None:
                return Seed(local)
            # ``def train(X, y, args)`` in a module that declares ``--seed``: the parsed options.
            dest = self._seed_option()
            namespace = next((a.arg for a in function.args.args if a.arg in _NAMESPACES), None) if dest else None
            if namespace is not None:
                return Seed(f"{namespace}.{dest}")
        parsed = self._parsed_args_seed(function, call.lineno)
        if parsed is not None:
            return Seed(parsed)
        constant = self.module_seed(call.lineno if function is None else None, shadowed=_bound_in(function))
        if constant is not None:
            return constant
        return self.new_seed()

    def module_seed(self, before_row: int | None = None, shadowed: frozenset[str] = frozenset()) -> Seed | None:
        """A module-level ``SEED = <int>`` (one binding of a seed name), defined before
        ``before_row`` when given."""
        counts: dict[str, int] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                counts[node.id] = counts.get(node.id, 0) + 1
        for index, statement in enumerate(self.tree.body):
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)):
                continue
            name = statement.targets[0].id
            if name.lower() not in SEED_NAMES or name in shadowed or counts.get(name) != 1:
                continue
            if not _is_int(statement.value) or (before_row is not None and statement.end_lineno >= before_row):  # type: ignore[operator]
                continue
            return Seed(name, module_statement=self._cst_index(statement))
        return None

    def _cst_index(self, statement: ast.stmt) -> int:
        start = self.ast_offset(statement.lineno, statement.col_offset)
        return self.top_index(start)

    def new_seed(self) -> Seed:
        """``SEED = 0`` after the imports, before the first top-level statement that needs it:
        the same edit for every fix of the pass, so it is added once."""
        if self._new_seed is False:
            name = next((n for n in _NEW_SEED_NAMES if n not in self.names), None)
            if name is None:
                self._new_seed = None
            else:
                try:
                    edit = self.lines_after_imports([f"{name} = 0"], self.first_use())
                    self._new_seed = Seed(name, (edit,))
                except Unfixable:
                    self._new_seed = None
        if self._new_seed is None or self._new_seed is True:
            raise Unfixable
        return self._new_seed

    def _parsed_args_seed(self, function: ast.FunctionDef | ast.AsyncFunctionDef | None, row: int) -> str | None:
        """``args.seed`` when ``args = parser.parse_args()`` is in scope and the module declares
        ``--seed`` with a default (or required): never a seed that can be None."""
        dest = self._seed_option()
        if dest is None:
            return None
        scopes: list[ast.AST] = [function] if function is not None else []
        scopes.append(self.tree)
        for scope in scopes:
            for node in _own_statements(scope):
                if (
                    isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
                    and node.value.func.attr in {"parse_args", "parse_known_args"}
                ):
                    name = node.targets[0].id
                    if node.value.func.attr == "parse_known_args":
                        continue
                    if scope is function and node.lineno >= row:
                        continue
                    if scope is self.tree and function is None and node.lineno >= row:
                        continue
                    if scope is self.tree and function is not None and name not in _loads(function):
                        continue  # a global the function does not already read: not plainly in scope
                    if function is not None and scope is self.tree and name in _bound_in(function):
                        continue
                    return f"{name}.{dest}"
        return None

    def _seed_option(self) -> str | None:
        for node in ast.walk(self.tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"):
                continue
            flags = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            match = next((m for f in flags if (m := _SEED_FLAGS.match(f))), None)
            if match is None:
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            default = keywords.get("default")
            required = isinstance(keywords.get("required"), ast.Constant) and keywords["required"].value is True  # type: ignore[union-attr]
            if not (required or (default is not None and _is_int(default))):
                return None
            action = keywords.get("action")
            if action is not None:
                return None
            dest = keywords.get("dest")
            if dest is not None:
                return dest.value if isinstance(dest, ast.Constant) and isinstance(dest.value, str) and dest.value.isidentifier() else None
            long = next((f for f in flags if f.startswith("--")), flags[0])
            return long.lstrip("-").replace("-", "_")
        return None


def _is_int(node: ast.AST | None) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool)


def _own_statements(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a scope, not of the functions and classes nested in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _bound_in(function: ast.AST | None) -> frozenset[str]:
    if function is None:
        return frozenset()
    names = set()
    if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = function.args
        names.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a is not None)
    for node in _own_statements(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".", 1)[0])
    return frozenset(names)


def _loads(function: ast.AST) -> frozenset[str]:
    return frozenset(n.id for n in _own_statements(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))


def _local_seed(function: ast.FunctionDef | ast.AsyncFunctionDef, row: int) -> str | None:
    """A ``seed`` parameter that is not None by default, or a local ``seed = 42``."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults: dict[str, ast.expr | None] = {a.arg: None for a in [*positional, *args.kwonlyargs]}
    for arg, default in zip(reversed(positional), reversed(args.defaults)):
        defaults[arg.arg] = default
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        defaults[arg.arg] = default
    for name, default in defaults.items():
        if name.lower() in SEED_NAMES and not (isinstance(default, ast.Constant) and default.value is None):
            return name
    assigned: dict[str, list[ast.Assign]] = {}
    stores: dict[str, int] = {}
    for node in _own_statements(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.setdefault(node.targets[0].id, []).append(node)
    for name, nodes in assigned.items():
        if name.lower() in SEED_NAMES and stores.get(name) == 1 and _is_int(nodes[0].value) and nodes[0].lineno < row:
            return name
    return None


def _top_level_imports(statement: ast.stmt) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        yield statement
    elif isinstance(statement, ast.Try):
        for inner in statement.body:
            if isinstance(inner, (ast.Import, ast.ImportFrom)):
                yield inner


def _is_import_block(statement: cst.CSTNode) -> bool:
    """``import x`` / ``from x import y`` lines, or a ``try:`` whose body only imports."""
    if isinstance(statement, cst.SimpleStatementLine):
        return all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)
    if isinstance(statement, cst.Try) and isinstance(statement.body, cst.IndentedBlock):
        return all(_is_import_block(s) for s in statement.body.body)
    return False


_INERT_CALLS = ("print", "warnings.", "logging.", "logger.", "log.", "sys.path.", "matplotlib.use", "os.environ.")


def _literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(node, cst.Name):
        return node.value in {"True", "False", "None"}
    if isinstance(node, cst.UnaryOperation):
        return _literal(node.expression)
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return all(isinstance(e, cst.Element) and _literal(e.value) for e in node.elements)
    if isinstance(node, cst.Dict):
        return all(isinstance(e, cst.DictElement) and _literal(e.key) and _literal(e.value) for e in node.elements)
    return False


def _inert(statement: cst.CSTNode, index: int) -> bool:
    """A top-level statement that draws nothing when it runs: imports, definitions, constants,
    ``print(__doc__)``, warnings and logging set-up (and a notebook's magics, read as ``pass``)."""
    if _is_import_block(statement) or _is_pass(statement) or (index == 0 and _is_docstring(statement)):
        return True
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        return True
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None and _literal(small.value):
            continue
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            name = _dotted(small.value.func) or ""
            if name == "print" or name.startswith(_INERT_CALLS):
                continue
        return False
    return True


def _is_pass(statement: cst.CSTNode) -> bool:
    """``pass`` at module level: nothing, or a notebook's magic (``!pip install``) as the linter reads it."""
    return isinstance(statement, cst.SimpleStatementLine) and all(isinstance(s, cst.Pass) for s in statement.body)


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr) and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _bare(node: cst.CSTNode) -> cst.CSTNode:
    if hasattr(node, "lpar") and getattr(node, "lpar"):
        return node.with_changes(lpar=[], rpar=[])
    return node


# -- adding an argument ----------------------------------------------------------------------


def add_argument(doc: Doc, call: cst.Call, text: str) -> TextEdit:
    """Insert the argument ``text`` (``random_state=SEED``) last, as ruff adds one: after the
    last argument (``f(a, b=1, random_state=SEED)``), or on a line of its own when the call puts
    one argument per line and ends with a trailing comma."""
    if any(arg.star == "**" for arg in call.args):
        raise Unfixable  # the argument may well come through the mapping
    _, call_end = doc.span(call)
    closing = call_end - 1
    if not call.args:
        return TextEdit(closing, closing, text)
    last = call.args[-1]
    last_start, last_end = doc.span(last)
    if isinstance(last.comma, cst.Comma):
        line_start = doc.lines.starts[doc.positions[last].start.line - 1]
        close_line = doc.lines.starts[doc.lines.position(closing)[0] - 1]
        indent = doc.source[line_start:last_start]
        if not indent.strip() and not doc.source[close_line:closing].strip() and close_line > last_start:
            return TextEdit(close_line, close_line, f"{indent}{text},{doc.newline}")
    return TextEdit(last_end, last_end, f", {text}")


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((arg for arg in call.args if arg.keyword is not None and arg.keyword.value == name), None)


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None" and not node.lpar


def _seed_argument(doc: Doc, target: Target, names: Sequence[str], use: str, what: str, applicability: str) -> Proposal:
    """``random_state=SEED`` on the call of ``target``, or ``None`` replaced by the seed."""
    call = doc.call_at(target)
    assert target.end is not None
    seed = doc.seed_at(target.end)
    given = [arg for arg in (_keyword(call, name) for name in names) if arg is not None]
    if given and all(_is_none(arg.value) for arg in given):
        start, end = doc.span(given[0].value)
        edit = TextEdit(start, end, seed.text)
        message = f"Pass `{given[0].keyword.value}={seed.text}`"  # type: ignore[union-attr]
    elif given:
        raise Unfixable
    else:
        edit = add_argument(doc, call, f"{use}={seed.text}")
        message = f"Pass `{use}={seed.text}`"
    if seed.edits:
        message += f" (adds `{seed.text} = 0` after the imports)"
    return Proposal(target.code, applicability, f"{message} to {what}", (*seed.edits, edit))


# -- MLR109 / MLR111 / MLR110 / MLR112 --------------------------------------------------------


def _numpy_seeded(doc: Doc) -> bool:
    return seed_state(doc.ctx).seeded(NUMPY)


_POSITIONAL_RANDOM_STATE = {"KFold": 2, "StratifiedKFold": 2, "GroupKFold": 2}


def fix_missing_random_state(doc: Doc, target: Target) -> Proposal:
    """MLR109: safe unless this file seeds NumPy's global generator (the call was repeatable)."""
    applicability = UNSAFE if _numpy_seeded(doc) else SAFE
    call = doc.call_at(target)
    assert target.end is not None
    name = doc.ctx.call_name(doc.ast_call(target.end)[0]) or ""
    position = _POSITIONAL_RANDOM_STATE.get(name.rsplit(".", 1)[-1])
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    if position is not None and len(positional) > position:
        # ``KFold(5, True, None)``: the old positional signature.
        if not _is_none(positional[position].value):
            raise Unfixable
        seed = doc.seed_at(target.end)
        start, end = doc.span(positional[position].value)
        return Proposal(target.code, applicability, f"Pass `{seed.text}` as the random state", (*seed.edits, TextEdit(start, end, seed.text)))
    return _seed_argument(doc, target, ["random_state"], "random_state", "the call", applicability)


def fix_pandas_sample(doc: Doc, target: Target) -> Proposal:
    """MLR111: as MLR109 (pandas draws from NumPy's global generator without one)."""
    applicability = UNSAFE if _numpy_seeded(doc) else SAFE
    return _seed_argument(doc, target, ["random_state"], "random_state", "`.sample()`", applicability)


_BOOSTING_SEEDS = {
    "xgboost": ("seed", "random_state"),
    "lightgbm": ("seed", "random_seed", "random_state", "bagging_seed", "feature_fraction_seed", "data_random_seed"),
    "catboost": ("random_seed", "random_state"),
}
_TRAIN = {"xgboost.train", "xgboost.training.train", "lightgbm.train", "lightgbm.engine.train"}


def fix_gradient_boosting(doc: Doc, target: Target) -> Proposal:
    """MLR110: unsafe, always: the model already sampled with the library's fixed default seed,
    and any other seed changes which rows and columns it samples."""
    call = doc.call_at(target)
    assert target.end is not None
    ast_call, _ = doc.ast_call(target.end)
    name = doc.ctx.call_name(ast_call) or ""
    library = name.split(".", 1)[0]
    if name in _TRAIN:
        return _params_seed(doc, target, call, ast_call)
    if library not in _BOOSTING_SEEDS:
        raise Unfixable
    use = "random_seed" if library == "catboost" else "random_state"
    return _seed_argument(doc, target, _BOOSTING_SEEDS[library], use, f"the {library} model", UNSAFE)


def _params_seed(doc: Doc, target: Target, call: cst.Call, ast_call: ast.Call) -> Proposal:
    """``xgb.train({...}, ...)``: ``"seed": SEED`` in the params dict, written inline or bound
    once to a name in the same scope."""
    params = _keyword(call, "params") or (call.args[0] if call.args and call.args[0].keyword is None and not call.args[0].star else None)
    if params is None:
        raise Unfixable
    value = params.value
    if isinstance(value, cst.Name):
        value = _single_binding(doc, value.value, call)
    assert target.end is not None
    seed = doc.seed_at(target.end)
    if isinstance(value, cst.Dict):
        if any(not isinstance(e, cst.DictElement) for e in value.elements):
            raise Unfixable
        edit = _append_element(doc, value, f'"seed": {seed.text}', value.elements)
    elif isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict":
        edit = add_argument(doc, value, f"seed={seed.text}")
    else:
        raise Unfixable
    return Proposal(target.code, UNSAFE, f"Add `\"seed\": {seed.text}` to the params", (*seed.edits, edit))


def _single_binding(doc: Doc, name: str, call: cst.Call) -> cst.BaseExpression:
    """The value of the one ``name = ...`` in the call's scope (function, else module)."""
    scope: cst.CSTNode | None = call
    while scope is not None and not isinstance(scope, (cst.FunctionDef, cst.Module)):
        scope = doc.parents.get(scope)
    if scope is None:
        raise Unfixable
    found: list[cst.BaseExpression] = []
    touched = 0

    class Finder(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is scope

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Assign(self, node: cst.Assign) -> None:
            nonlocal touched
            for t in node.targets:
                if isinstance(t.target, cst.Name) and t.target.value == name:
                    found.append(node.value)
                elif name in doc.module.code_for_node(t.target):
                    touched += 1

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            nonlocal touched
            touched += 1

        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal touched
            if isinstance(node.value, cst.Name) and node.value.value == name and node.attr.value in {"update", "setdefault", "pop"}:
                touched += 1

    scope.visit(Finder())
    if len(found) != 1 or touched:
        raise Unfixable
    return found[0]


def _append_element(doc: Doc, container: cst.CSTNode, text: str, elements: Sequence[cst.CSTNode]) -> TextEdit:
    _, end = doc.span(container)
    closing = end - 1
    if not elements:
        return TextEdit(closing, closing, text)
    last = elements[-1]
    last_start, last_end = doc.span(last)
    if isinstance(getattr(last, "comma", None), cst.Comma):
        line_start = doc.lines.starts[doc.positions[last].start.line - 1]
        close_line = doc.lines.starts[doc.lines.position(closing)[0] - 1]
        indent = doc.source[line_start:last_start]
        if not indent.strip() and not doc.source[close_line:closing].strip() and close_line > last_start:
            return TextEdit(close_line, close_line, f"{indent}{text},{doc.newline}")
    return TextEdit(last_end, last_end, f", {text}")


def fix_dataloader_workers(doc: Doc, target: Target) -> Proposal:
    """MLR112: ``generator=torch.Generator().manual_seed(SEED)``, from which PyTorch seeds each
    worker (torch, ``random`` and NumPy). Safe: the rule fires only where torch is unseeded, so
    the shuffle and the workers' draws differed on every run."""
    if target.end is None:
        # Told at an entry point's import (the loader is in the module it imports): seeding
        # torch there seeds the workers (unsafe, as every seeding after the imports).
        return fix_unseeded_generator(doc, target)
    call = doc.call_at(target)
    if seed_state(doc.ctx).seeded(TORCH):
        raise Unfixable
    if _keyword(call, "generator") is not None or len([a for a in call.args if a.keyword is None]) > 12:
        raise Unfixable
    torch = doc.module_import("torch", before=doc.span(doc.module.body[doc.top_index(target.start)])[0])
    if torch is None:
        raise Unfixable
    seed = doc.seed_at(target.end)
    edit = add_argument(doc, call, f"generator={torch}.Generator().manual_seed({seed.text})")
    return Proposal(target.code, SAFE, f"Pass `generator={torch}.Generator().manual_seed({seed.text})`", (*seed.edits, edit))


# -- MLR201 / MLR202 -------------------------------------------------------------------------


def fix_nondeterministic_cudnn(doc: Doc, target: Target) -> Proposal:
    """MLR201: ``torch.backends.cudnn.deterministic = True`` after the imports. Unsafe: cuDNN
    then uses other (deterministic, sometimes slower) kernels, so the numbers change."""
    from mlrepro.lint.cudnn import assignment_sites

    ctx = doc.ctx
    if any(True for _ in assignment_sites(ctx, "torch.backends.cudnn.deterministic")) or any(
        True for _ in ctx.calls_matching(lambda n: n == "torch.use_deterministic_algorithms")
    ):
        raise Unfixable  # the file decides on determinism itself (off, or only when asked)
    before = doc.first_use()
    cudnn = doc.module_path("torch.backends.cudnn", doc.insertion(before)[0])
    imports: list[str] = []
    if cudnn is None:
        if not doc.free_for("torch", "torch"):
            raise Unfixable
        imports.append("import torch")
        cudnn = "torch.backends.cudnn"
    line = f"{cudnn}.deterministic = True"
    edit = doc.lines_after_imports([line], before, imports=imports)
    return Proposal(target.code, UNSAFE, f"Set `{line}` after the imports", (edit,))


def fix_cudnn_benchmark(doc: Doc, target: Target) -> Proposal:
    """MLR202: the literal ``True`` that turns the autotuner on becomes ``False``. Unsafe: the
    code asked for the autotuner on purpose, for speed."""
    if target.end is None:
        raise Unfixable
    value: cst.CSTNode | None = None
    call = doc.calls.get(target.end)
    if call is not None:
        benchmark = _keyword(call, "benchmark")
        if benchmark is not None:
            value = benchmark.value
        else:
            defaults = _keyword(call, "trainer_defaults")
            if defaults is not None and isinstance(defaults.value, cst.Dict):
                for element in defaults.value.elements:
                    if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString) and element.key.evaluated_value == "benchmark":
                        value = element.value
    else:
        value = next((n for n in doc.ends.get(target.end, []) if isinstance(n, cst.Name) and n.value == "True"), None)
    if not (isinstance(value, cst.Name) and value.value == "True"):
        raise Unfixable
    start, end = doc.span(value)
    return Proposal(target.code, UNSAFE, "Turn the cuDNN autotuner off (`False`)", (TextEdit(start, end, "False"),))


# -- MLR301 / MLR302: runs never closed ------------------------------------------------------


@dataclass(frozen=True)
class _Tracker:
    start: str
    finishers: frozenset[str]
    method: str | None


_WANDB = _Tracker("wandb.init", frozenset({"wandb.finish", "wandb.run.finish"}), "finish")
_MLFLOW = _Tracker("mlflow.start_run", frozenset({"mlflow.end_run", "mlflow.tracking.fluent.end_run"}), None)


def _dotted(node: cst.BaseExpression) -> str | None:
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _qualified(doc: Doc, node: cst.BaseExpression) -> str | None:
    dotted = _dotted(node)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    base = doc.ctx.imports.get(head)
    if base is None:
        return None
    return f"{base}.{rest}" if rest else base


def _finish_statement(doc: Doc, statement: cst.CSTNode, tracker: _Tracker, holder: str | None) -> bool:
    if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 and isinstance(statement.body[0], cst.Expr)):
        return False
    call = statement.body[0].value
    if not isinstance(call, cst.Call) or call.args:
        return False
    if _qualified(doc, call.func) in tracker.finishers:
        return True
    return (
        tracker.method is not None and holder is not None and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == tracker.method and _dotted(call.func.value) == holder
    )


def _finishes_elsewhere(doc: Doc, tracker: _Tracker, holder: str | None, skip: cst.CSTNode | None) -> bool:
    for node in doc.calls.values():
        if skip is not None and _inside(doc, node, skip):
            continue
        if _qualified(doc, node.func) in tracker.finishers:
            return True
        if (
            tracker.method is not None and holder is not None and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == tracker.method and _dotted(node.func.value) == holder
        ):
            return True
    return False


def _inside(doc: Doc, node: cst.CSTNode, ancestor: cst.CSTNode) -> bool:
    current: cst.CSTNode | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = doc.parents.get(current)
    return False


def _has_comment(statement: cst.SimpleStatementLine) -> bool:
    return statement.trailing_whitespace.comment is not None or any(line.comment is not None for line in statement.leading_lines)


def _wrap_in_with(doc: Doc, target: Target, tracker: _Tracker) -> Proposal:
    """``run = tracker.start(...)`` (or the bare call) and the statements after it in its block,
    up to a plain ``finish()`` / ``end_run()`` statement there (removed) or the block's end,
    become ``with tracker.start(...) as run:``."""
    call = doc.call_at(target)
    expression = doc.parents.get(call)
    holder: str | None = None
    if isinstance(expression, cst.Assign):
        if len(expression.targets) != 1 or not isinstance(expression.targets[0].target, cst.Name):
            raise Unfixable
        holder = expression.targets[0].target.value
    elif not isinstance(expression, cst.Expr):
        raise Unfixable
    line = doc.parents.get(expression)
    block = doc.parents.get(line) if line is not None else None
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1 or not isinstance(block, (cst.Module, cst.IndentedBlock)):
        raise Unfixable
    body = list(block.body)
    index = next(i for i, s in enumerate(body) if s is line)
    end = next((j for j in range(index + 1, len(body)) if _finish_statement(doc, body[j], tracker, holder)), None)
    wrapped = body[index + 1 : end if end is not None else len(body)]
    if not wrapped:
        raise Unfixable
    finisher = body[end] if end is not None else None
    if finisher is not None and _has_comment(finisher):  # type: ignore[arg-type]
        raise Unfixable  # its comment would have nowhere to go
    if _finishes_elsewhere(doc, tracker, holder, finisher):
        raise Unfixable  # finished somewhere else too: which one to replace is not plain
    if isinstance(block, cst.Module) and any(isinstance(s, (cst.FunctionDef, cst.ClassDef)) for s in wrapped):
        raise Unfixable  # definitions would move into the block
    start = doc.span(line)[0]
    last = doc.span(finisher if finisher is not None else wrapped[-1])[1]
    if not doc.same_cell(start, last):
        raise Unfixable  # a notebook's later cells cannot move into one cell's block
    header = line.trailing_whitespace
    wrapped = [statement.visit(_BlankLinesStayBlank()) for statement in wrapped]  # type: ignore[misc]
    with_node = cst.With(
        items=[cst.WithItem(item=call, asname=cst.AsName(name=cst.Name(holder)) if holder else None)],
        body=cst.IndentedBlock(body=wrapped, header=header),
        leading_lines=line.leading_lines,
    )
    new_body = [*body[:index], with_node, *body[(end + 1 if end is not None else len(body)) :]]
    if isinstance(block, cst.Module):
        new_module = block.with_changes(body=new_body)
    else:
        new_module = doc.module.deep_replace(block, block.with_changes(body=new_body))
    assert isinstance(new_module, cst.Module)
    edits = text_edits(doc.source, new_module.code)
    shown = f"with {tracker.start}(...){f' as {holder}' if holder else ''}:"
    return Proposal(target.code, UNSAFE, f"Use `{shown}` for the run", edits)


class _BlankLinesStayBlank(cst.CSTTransformer):
    """A blank line moved into a block would get the block's indentation (trailing spaces):
    keep it empty, as it was."""

    def leave_EmptyLine(self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine) -> cst.EmptyLine:
        if updated_node.comment is None and not updated_node.whitespace.value:
            return updated_node.with_changes(indent=False)
        return updated_node


def fix_wandb_run(doc: Doc, target: Target) -> Proposal:
    """MLR301: unsafe: the run then ends at the end of the block (failed on an exception)
    instead of when the process exits."""
    return _wrap_in_with(doc, target, _WANDB)


def fix_mlflow_run(doc: Doc, target: Target) -> Proposal:
    """MLR302: unsafe, as MLR301 (an exception marks the run FAILED, not FINISHED)."""
    return _wrap_in_with(doc, target, _MLFLOW)


# -- MLR101 / MLR103 / MLR105 / MLR107: unseeded generators ------------------------------------

# code -> (generator, module to import, how to seed it through that module)
_SEEDERS: dict[str, tuple[str, str, str, str]] = {
    "MLR101": ("random", "random", "random", "{m}.seed({seed})"),
    "MLR103": ("numpy", "numpy.random", "np", "{m}.seed({seed})"),
    "MLR105": ("torch", "torch", "torch", "{m}.manual_seed({seed})"),
    "MLR107": ("tensorflow", "tensorflow.random", "tf", "{m}.set_seed({seed})"),
    "MLR112": ("torch", "torch", "torch", "{m}.manual_seed({seed})"),
}
_IMPORT_AS = {"numpy": "import numpy as np", "torch": "import torch", "tensorflow": "import tensorflow as tf", "random": "import random"}


def _seeding_line(doc: Doc, code: str, seed: str, at: int) -> tuple[str, str | None]:
    """The seeding statement for a rule's generator (inserted at offset ``at``), and the import
    it needs (if any)."""
    _, module, _, template = _SEEDERS[code]
    path = doc.module_path(module, at)
    if path is not None:
        return template.format(m=path, seed=seed), None
    if code == "MLR107":
        keras = doc.module_path("keras.utils", at) or doc.module_path("tensorflow.keras.utils", at)
        if keras is not None:
            return f"{keras}.set_random_seed({seed})", None
    root = module.split(".", 1)[0]
    local = {"numpy": "np", "tensorflow": "tf"}.get(root, root)
    if not doc.free_for(local, root):
        raise Unfixable
    rest = module[len(root) :]
    return template.format(m=local + rest, seed=seed), _IMPORT_AS[root]


def fix_unseeded_generator(doc: Doc, target: Target) -> Proposal:
    """MLR101/103/105/107: seed the generators this pass reports, once, after the imports
    (every such finding of the file gets the same edit). Unsafe: the generators are then seeded
    when the module is imported, which also reseeds them for any program importing it."""
    # A loader's finding at an entry point's import asks for torch's seed too (MLR112).
    codes = sorted({t.code for t in doc.targets if t.code in _SEEDERS and (t.code != "MLR112" or t.end is None)})
    seed = doc.module_seed()
    before = doc.first_use(seed.module_statement if seed is not None else None)
    new_constant: list[str] = []
    if seed is None:
        name = next((n for n in _NEW_SEED_NAMES if n not in doc.names), None)
        if name is None:
            raise Unfixable
        seed = Seed(name)
        new_constant = [f"{name} = 0"]
    lines: list[str] = []
    imports: list[str] = []
    at = doc.insertion(before, seed.module_statement)[0]
    helper = _project_helper(doc, {_SEEDERS[code][0] for code in codes}, at)
    if helper is not None:
        lines.append(f"{helper}({seed.text})")
    else:
        for code in codes:
            statement, needed = _seeding_line(doc, code, seed.text, at)
            if statement not in lines:
                lines.append(statement)
            if needed is not None and needed not in imports:
                imports.append(needed)
    if seed.module_statement is not None and seed.module_statement >= before:
        raise Unfixable
    edit = doc.lines_after_imports([*new_constant, *lines], before, seed.module_statement, imports)
    return Proposal(target.code, UNSAFE, f"Seed after the imports: `{'; '.join(lines)}`", (edit,))


def _project_helper(doc: Doc, generators: set[str], at: int) -> str | None:
    """The project's own seeding helper, as this module can call it at offset ``at`` through an
    import it already has (``utils.set_seed``), when the project index knows one that seeds
    every generator needed; its first parameter takes the seed, as seeding helpers' do."""
    candidates = sorted(name for name, seeds in doc.context.project_seeders.items() if generators <= seeds)
    if not candidates:
        return None
    bound: list[tuple[str, str]] = []  # (qualified name, local name) of the imports before ``at``
    for statement in doc.tree.body:
        if doc.ast_offset(statement.lineno, statement.col_offset) >= at:
            break
        for node in _top_level_imports(statement):
            for alias in node.names:
                if alias.name == "*":
                    continue
                if isinstance(node, ast.Import):
                    qualified = alias.name if alias.asname else alias.name.split(".", 1)[0]
                    bound.append((qualified, alias.asname or qualified))
                else:
                    base = "." * node.level + (f"{node.module}." if node.module else "")
                    bound.append((base + alias.name, alias.asname or alias.name))
    for name in candidates:
        for qualified, local in bound:
            if name == qualified or name.startswith(qualified + "."):
                return local + name[len(qualified) :]
    return None


Fixer = Callable[[Doc, Target], Proposal]

FIXERS: dict[str, Fixer] = {
    "MLR101": fix_unseeded_generator,
    "MLR103": fix_unseeded_generator,
    "MLR105": fix_unseeded_generator,
    "MLR107": fix_unseeded_generator,
    "MLR109": fix_missing_random_state,
    "MLR110": fix_gradient_boosting,
    "MLR111": fix_pandas_sample,
    "MLR112": fix_dataloader_workers,
    "MLR201": fix_nondeterministic_cudnn,
    "MLR202": fix_cudnn_benchmark,
    "MLR301": fix_wandb_run,
    "MLR302": fix_mlflow_run,
}


def plan(source: str, targets: Sequence[Target], context: FixContext) -> list[Proposal | None]:
    """Each target's fix in ``source`` (None where there is none). A file libcst cannot parse
    (syntax newer than it knows) gets no fixes."""
    try:
        doc = Doc(source, [t for t in targets if t.code in FIXERS], context)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError):
        return [None] * len(targets)
    out: list[Proposal | None] = []
    for target in targets:
        fixer = FIXERS.get(target.code)
        try:
            out.append(fixer(doc, target) if fixer is not None else None)
        except Unfixable:
            out.append(None)
    return out
