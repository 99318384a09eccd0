"""What the project index keeps of one module: plain, JSON-ready facts read off its context.

The per-file lint decides what one file does; these facts let the project decide what the
files do together: which modules a file imports, whether it runs as a script, which of its
functions seed generators (and which other functions they call, to follow helpers that call
helpers), which generators the module itself seeds, and where it draws from a generator.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from mlrepro.lint import cudnn
from mlrepro.lint.context import INTERESTS, ModuleContext
from mlrepro.lint.seeding import CONDITIONAL, FALLBACK, UNSET_SEED, is_entropy, passes_unset_seed, seed_state

# The generator a finding of each rule draws from: these findings are judged where the module
# runs (at the entry points that reach it), not where the draw is written. "cudnn" stands for
# the determinism switches, which an entry point sets for every module it runs.
GENERATOR_OF_CODE: dict[str, str] = {
    "MLR101": "random",
    "MLR103": "numpy",
    "MLR111": "numpy",
    "MLR105": "torch",
    "MLR112": "torch",
    "MLR107": "tensorflow",
    "MLR201": "cudnn",
}

# Text that only code which trains contains: an optimiser, a backward pass, a fit. Randomness
# matters where a model is trained; an evaluation script's draws do not change what it measures.
_TRAINING_MARKERS = (
    ".backward(", "optimizer.step(", ".zero_grad(", "optim.", "Optimizer(", "get_optimizer(", "create_optimizer(",
    ".fit(", "train_one_epoch", "training_step", "train_step", "train_epoch", "TrainingArguments", "train_loop",
    "SupervisedRunner", "apply_gradients", "GradientTape", "optax.", ".train(", ".optimize(",
)

# A script that plots with these and writes none of these makes figures, not data: its colour
# shuffles and sampled points change no result anyone reproduces.
_PLOTTING = frozenset({"matplotlib", "seaborn", "plotly", "bokeh", "altair"})
_DATA_WRITES = (
    ".to_csv(", ".to_parquet(", ".to_json(", ".to_pickle(", "np.save", "numpy.save", "json.dump", "pickle.dump",
    "joblib.dump", "torch.save(", ".tofile(", ".write(", "writerow", "write_text(", "write_bytes(",
)

# ``train``, ``train_one_epoch``, ``do_train``, ``fit_model`` (not ``pretrained``, ``fitness``).
TRAINING_NAME = re.compile(r"^(?:[A-Za-z0-9]+_)*(?:train|fit|training)(?:_\w+)?$")
# The text of such a call through a module (``train.train_and_evaluate(``): files without it
# are not walked for them.
_TRAINING_CALL = re.compile(r"\.(?:[A-Za-z0-9]+_)*(?:train|fit|training)(?:_\w+)?\(")

# Module-level statements that define rather than run: a module made only of these is a library.
_DEFINING = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)
# Top-level calls that configure rather than train (``warnings.filterwarnings``, a logger).
_QUIET_CALLS = ("warnings.", "logging.", "logger.", "log.", "print", "register", "matplotlib.use", "sys.path", "os.environ")


@dataclass
class ModuleFacts:
    # (module, level, imported names or None for ``import x``, line): the raw imports, every
    # one of them, so that the graph can be resolved against whatever files exist today.
    imports: list[tuple[str, int, list[str] | None, int]] = field(default_factory=list)
    bindings: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    main_guard: bool = False
    top_level_code: bool = False
    # name -> (generators it seeds itself, callees that may be project helpers)
    functions: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    seeds: list[str] = field(default_factory=list)  # generators (and "cudnn") seeded unconditionally
    cudnn_layer: tuple[int, int, str] | None = None  # first conv/recurrent layer: row, col, name
    uses_cuda: bool = False
    trains: bool = False  # optimises something: evaluation and plotting scripts do not
    # Top-level functions and classes: (name, first row, last row), to tell which definition a
    # draw sits in (an entry point that imports only ``cohen_kappa_score`` does not run mixup).
    definitions: list[tuple[str, int, int]] = field(default_factory=list)
    hydra: bool = False  # instantiates objects from Hydra configs (``_target_``)
    main_blocks: list[tuple[int, int]] = field(default_factory=list)  # ``if __name__ == "__main__":`` rows
    plots_only: bool = False  # draws figures and writes no data (a visualisation script)
    # Training functions called through an imported module (``import train`` then
    # ``train.train_and_evaluate(...)``): the project decides whether that module is its own.
    training_calls: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "imports": self.imports, "bindings": self.bindings, "main_guard": self.main_guard,
            "top_level_code": self.top_level_code, "functions": self.functions, "seeds": self.seeds,
            "cudnn_layer": self.cudnn_layer, "uses_cuda": self.uses_cuda, "trains": self.trains,
            "definitions": self.definitions, "hydra": self.hydra, "main_blocks": self.main_blocks,
            "plots_only": self.plots_only, "training_calls": self.training_calls,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModuleFacts:
        return cls(
            imports=[(m, lvl, names, line) for m, lvl, names, line in data["imports"]],
            bindings=dict(data["bindings"]), main_guard=bool(data["main_guard"]),
            top_level_code=bool(data["top_level_code"]),
            functions={k: (list(v[0]), list(v[1])) for k, v in data["functions"].items()},
            seeds=list(data["seeds"]),
            cudnn_layer=tuple(data["cudnn_layer"]) if data["cudnn_layer"] else None,  # type: ignore[arg-type]
            uses_cuda=bool(data["uses_cuda"]), trains=bool(data.get("trains")),
            definitions=[(n, a, b) for n, a, b in data.get("definitions", ())], hydra=bool(data.get("hydra")),
            main_blocks=[(a, b) for a, b in data.get("main_blocks", ())], plots_only=bool(data.get("plots_only")),
            training_calls=list(data.get("training_calls", ())),
        )

    def in_main_block(self, row: int) -> bool:
        return any(first <= row <= last for first, last in self.main_blocks)

    def definition_at(self, row: int) -> str | None:
        for name, first, last in self.definitions:
            if first <= row <= last:
                return name
        return None


def _training_calls(tree: ast.Module, bindings: dict[str, str]) -> list[str]:
    """``module.train_xxx(...)`` calls on an imported name, as qualified names."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            module = bindings.get(node.func.value.id)
            if module is not None and TRAINING_NAME.match(node.func.attr) is not None:
                found.add(f"{module}.{node.func.attr}")
    return sorted(found)


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    names = {p.id for p in parts if isinstance(p, ast.Name)}
    values = {p.value for p in parts if isinstance(p, ast.Constant)}
    return "__name__" in names and "__main__" in values


def _runs_code(node: ast.stmt) -> bool:
    """A top-level statement that does work when the module runs (a training script's body)."""
    if isinstance(node, _DEFINING) or _is_main_guard(node):
        return False
    if isinstance(node, ast.Expr):
        value = node.value
        if isinstance(value, ast.Constant):
            return False  # a docstring
        if isinstance(value, ast.Call):
            try:
                text = ast.unparse(value.func)
            except (ValueError, RecursionError):  # pragma: no cover - defensive
                return True
            return not text.startswith(_QUIET_CALLS)
        return False
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        value = node.value
        return isinstance(value, ast.Call) or isinstance(value, ast.Await)
    if isinstance(node, (ast.If, ast.Try)):
        return False  # optional imports and feature flags
    return isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith))


def _imports(ctx: ModuleContext) -> list[tuple[str, int, list[str] | None, int]]:
    found: list[tuple[str, int, list[str] | None, int]] = []
    # Every import, inside functions and ``try`` too (a lazy import still runs the module): the
    # context has visited every line that says "import", so no second walk of the tree.
    for site in ctx.sites(ast.Import, ast.ImportFrom):
        node = site.node
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, 0, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level, [a.name for a in node.names], node.lineno))
    return found


def _framework(name: str) -> bool:
    return any(name == i or name.startswith(i + ".") for i in INTERESTS)


def _top_function(ancestors: tuple[ast.AST, ...]) -> str | None:
    if len(ancestors) >= 2 and isinstance(ancestors[1], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return ancestors[1].name
    return None


# Draws that make a fresh seed: ``torch.randint`` in torchtune's ``set_seed``, ``random.randint``.
_RANDOM_DRAWS = ("random.", "numpy.random.", "torch.randint", "torch.rand", "secrets.")


def _draws_a_seed(ctx: ModuleContext, body: list[ast.stmt]) -> bool:
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                name = ctx.call_name(node) or ""
                if name.startswith(_RANDOM_DRAWS) or is_entropy(ctx, node):
                    return True
    return False


def _random_fallbacks(ctx: ModuleContext, tree: ast.Module) -> dict[str, str]:
    """Top-level functions that replace a seed parameter left at ``None`` by a random draw
    (``if seed is None: seed = torch.randint(...)``): name -> ``fallback?<param>@<position>``."""
    found: dict[str, str] = {}
    for function in tree.body:
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        positional = [*function.args.posonlyargs, *function.args.args]
        names = [a.arg for a in positional] + [a.arg for a in function.args.kwonlyargs]
        for node in ast.walk(function):
            if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1):
                continue
            left, op, right = node.test.left, node.test.ops[0], node.test.comparators[0]
            if not (isinstance(left, ast.Name) and left.id in names and "seed" in left.id.lower()):
                continue
            if not (isinstance(op, ast.Is) and isinstance(right, ast.Constant) and right.value is None):
                continue
            assigns = any(
                isinstance(t, ast.Name) and t.id == left.id
                for s in node.body for n in ast.walk(s) if isinstance(n, ast.Assign) for t in n.targets
            )
            if assigns and _draws_a_seed(ctx, node.body):
                index = next((i for i, a in enumerate(positional) if a.arg == left.id), -1)
                found[function.name] = f"{FALLBACK}{left.id}@{index}"
                break
    return found


def module_facts(ctx: ModuleContext, tree: ast.Module, notebook: bool) -> ModuleFacts:
    """Facts of one module whose checks have already run on ``ctx`` (they share its memo)."""
    facts = ModuleFacts(imports=_imports(ctx), bindings=dict(ctx.imports))
    facts.main_blocks = [(node.lineno, node.end_lineno or node.lineno) for node in tree.body if _is_main_guard(node)]
    facts.main_guard = notebook or bool(facts.main_blocks)
    facts.top_level_code = any(_runs_code(node) for node in tree.body)

    state = seed_state(ctx)
    seeded: set[str] = set()
    functions: dict[str, tuple[set[str], set[str]]] = {}
    for call in state.calls:
        if not call.effective:
            continue
        if not call.conditional:
            seeded |= call.generators
        name = _top_function(call.site.ancestors)
        if name is not None and not call.conditional:
            functions.setdefault(name, (set(), set()))[0].update(call.generators)
        elif name is not None and call.guards == (call.site,):
            # Behind a seed check of the helper's own: its callers are seeded only conditionally.
            functions.setdefault(name, (set(), set()))[0].update(CONDITIONAL + g for g in call.generators)
    # Calls a function makes to what may be another project helper (a name no framework owns):
    # the project follows them to find helpers that seed through other helpers.
    for site in ctx.calls:
        name = _top_function(site.ancestors)
        if name is None:
            continue
        func = site.node.func  # type: ignore[attr-defined]
        callee = ctx.call_name(site.node) if not isinstance(func, ast.Name) or func.id in ctx.imports else func.id  # type: ignore[arg-type]
        if callee and not _framework(callee) and callee != name:
            unset = passes_unset_seed(ctx, site.node, site.function)  # type: ignore[arg-type]
            functions.setdefault(name, (set(), set()))[1].add(callee + UNSET_SEED if unset else callee)
    # A helper that makes cuDNN deterministic is a seeder of the "cudnn" switch (maybe only when
    # called with a parameter set: "cudnn?deterministic").
    for name, parameter in cudnn.determinism_helpers(ctx).items():
        functions.setdefault(name, (set(), set()))[0].add("cudnn" if parameter is None else f"cudnn?{parameter}")
    # A helper that draws its own seed when given none seeds only as well as its caller's value.
    for name, marker in _random_fallbacks(ctx, tree).items():
        if name in functions and functions[name][0]:
            functions[name][0].add(marker)
    facts.functions = {n: (sorted(g), sorted(c)) for n, (g, c) in functions.items()}
    if cudnn.sets_cudnn_determinism(ctx):
        seeded.add("cudnn")
    facts.seeds = sorted(seeded)
    layer = next(cudnn.cudnn_layers(ctx), None)
    if layer is not None:
        site, name = layer
        facts.cudnn_layer = (site.node.lineno, site.node.col_offset, name)  # type: ignore[attr-defined]
    facts.uses_cuda = cudnn.uses_cuda(ctx)
    facts.trains = any(marker in ctx.source for marker in _TRAINING_MARKERS)
    facts.training_calls = _training_calls(tree, facts.bindings) if _TRAINING_CALL.search(ctx.source) else []
    facts.definitions = [
        (node.name, node.lineno, node.end_lineno or node.lineno)
        for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    facts.hydra = any(q == "hydra" or q.startswith("hydra.") for q in ctx.imports.values())
    facts.plots_only = (
        any(q.split(".", 1)[0] in _PLOTTING for q in ctx.imports.values())
        and not any(marker in ctx.source for marker in _DATA_WRITES)
    )
    return facts
