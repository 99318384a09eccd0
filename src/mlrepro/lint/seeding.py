"""Which random generators a module seeds, where, and how well.

Every seed rule asks the same question ("is NumPy's global generator seeded in this
file?"), so the answer is computed once per module and cached on the context.

A seed counts when a seeding call for that generator (or a helper that seeds everything,
such as ``lightning.seed_everything`` or a configured ``seed-functions`` entry) appears in the
module. A seed inside a function defined in this module counts through that function's
callers: ``if args.seed is not None: set_seed(args.seed)`` makes the seed conditional even
though ``set_seed``'s own body is not.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mlrepro.lint.context import NOT_CONSTANT, ModuleContext, Site, constant, has_kwargs_splat, is_none, keyword, mentions
from mlrepro.lint.keras_backend import TORCH_BACKEND, keras_backend

PYTHON = "random"
NUMPY = "numpy"
TORCH = "torch"
CUDA = "cuda"
TENSORFLOW = "tensorflow"
# Not a generator: marks Keras's ``set_random_seed``, which also seeds the backend's own
# generator (``torch.manual_seed`` on the torch backend). The module that calls it, directly or
# through a project helper, knows its backend and adds torch's generators (``seed_state``).
KERAS_BACKEND_SEED = "keras"
EVERYTHING = frozenset({PYTHON, NUMPY, TORCH, CUDA, TENSORFLOW})

_LIGHTNING = frozenset({PYTHON, NUMPY, TORCH, CUDA})
_KERAS = frozenset({PYTHON, NUMPY, TENSORFLOW, KERAS_BACKEND_SEED})
_KERAS_ON_TORCH = frozenset({TORCH, CUDA})

SEEDERS: dict[str, frozenset[str]] = {
    "random.seed": frozenset({PYTHON}),
    "numpy.random.seed": frozenset({NUMPY}),
    "torch.manual_seed": frozenset({TORCH, CUDA}),
    "torch.random.manual_seed": frozenset({TORCH, CUDA}),
    "torch.cuda.manual_seed_all": frozenset({CUDA}),
    # Seeds the current device only: MLR106 says so; it still counts for the other rules.
    "torch.cuda.manual_seed": frozenset({CUDA}),
    "torch.cuda.random.manual_seed": frozenset({CUDA}),
    "torch.cuda.random.manual_seed_all": frozenset({CUDA}),
    # These reseed from OS entropy by design (see ENTROPY_SEEDERS): never a reproducible seed.
    "torch.seed": frozenset({TORCH, CUDA}),
    "torch.random.seed": frozenset({TORCH, CUDA}),
    "torch.cuda.seed": frozenset({CUDA}),
    "torch.cuda.seed_all": frozenset({CUDA}),
    "torch.cuda.random.seed": frozenset({CUDA}),
    "torch.cuda.random.seed_all": frozenset({CUDA}),
    "tensorflow.random.set_seed": frozenset({TENSORFLOW}),
    "tensorflow.set_random_seed": frozenset({TENSORFLOW}),
    "tensorflow.compat.v1.set_random_seed": frozenset({TENSORFLOW}),
    "tensorflow.compat.v1.random.set_random_seed": frozenset({TENSORFLOW}),
    "keras.utils.set_random_seed": _KERAS,
    "keras.src.utils.set_random_seed": _KERAS,
    "tensorflow.keras.utils.set_random_seed": _KERAS,
    "tf_keras.utils.set_random_seed": _KERAS,
    "transformers.set_seed": EVERYTHING,
    "transformers.trainer_utils.set_seed": EVERYTHING,
    "transformers.enable_full_determinism": EVERYTHING,
    "transformers.trainer_utils.enable_full_determinism": EVERYTHING,
    "lightning.seed_everything": _LIGHTNING,
    "lightning.pytorch.seed_everything": _LIGHTNING,
    "lightning.fabric.seed_everything": _LIGHTNING,
    "lightning_fabric.seed_everything": _LIGHTNING,
    "lightning_fabric.utilities.seed.seed_everything": _LIGHTNING,
    "lightning.pytorch.utilities.seed.seed_everything": _LIGHTNING,
    "pytorch_lightning.seed_everything": _LIGHTNING,
    "pytorch_lightning.utilities.seed.seed_everything": _LIGHTNING,
    "accelerate.utils.set_seed": _LIGHTNING,
    "accelerate.utils.random.set_seed": _LIGHTNING,
    # Ours: seeds every installed framework (JAX has no global generator to seed).
    "mlrepro.seed_everything": EVERYTHING,
    "mlrepro.capture.seeding.seed_everything": EVERYTHING,
}

# Hugging Face trainers: ``Trainer.__init__`` calls ``set_seed(args.seed)`` (``TrainingArguments``
# defaults the seed to 42), seeding Python, NumPy, torch and CUDA for what runs after it. A model
# built before the Trainer was drawn unseeded: the rule docs say so; the file counts as seeded.
HF_TRAINERS = frozenset({
    "transformers.Trainer", "transformers.trainer.Trainer", "transformers.Seq2SeqTrainer",
    "transformers.trainer_seq2seq.Seq2SeqTrainer", "sentence_transformers.SentenceTransformerTrainer",
    "sentence_transformers.trainer.SentenceTransformerTrainer", "sentence_transformers.cross_encoder.CrossEncoderTrainer",
    "sentence_transformers.sparse_encoder.SparseEncoderTrainer", "trl.SFTTrainer", "trl.DPOTrainer",
    "trl.RewardTrainer", "trl.GRPOTrainer", "trl.ORPOTrainer", "trl.KTOTrainer", "trl.CPOTrainer",
})
_HF_TRAINER = "transformers.Trainer"
# Lightning's ``Fabric.seed_everything`` is a method: ``fabric = L.Fabric(); fabric.seed_everything(1)``.
_FABRIC_SEED = "lightning.fabric.Fabric.seed_everything"
_LIGHTNING_MODULES = ("lightning", "pytorch_lightning", "lightning_fabric")

# A seed drawn from these is a different seed every run: it seeds nothing reproducibly.
ENTROPY_SOURCES = (
    "time.time", "time.time_ns", "time.perf_counter", "time.perf_counter_ns", "time.monotonic",
    "time.monotonic_ns", "os.urandom", "os.getpid", "secrets.", "uuid.uuid1", "uuid.uuid4",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.now", "datetime.utcnow", "random.SystemRandom", "os.getrandom", "time.process_time",
    "time.process_time_ns", "time.thread_time", "time.thread_time_ns", "time.clock_gettime",
    "time.clock_gettime_ns", "datetime.date.today",
)

# Seeders that take no seed and draw one from the operating system.
ENTROPY_SEEDERS = frozenset({
    "torch.seed", "torch.random.seed", "torch.cuda.seed", "torch.cuda.seed_all", "torch.cuda.random.seed",
    "torch.cuda.random.seed_all",
})
# Seeders for which no argument (or ``None``) means "seed from OS entropy" / "forget the seed".
_NONE_IS_ENTROPY = frozenset({
    "random.seed", "numpy.random.seed", "tensorflow.random.set_seed", "tensorflow.set_random_seed",
    "tensorflow.compat.v1.set_random_seed", "tensorflow.compat.v1.random.set_random_seed",
})


@dataclass(frozen=True)
class SeedCall:
    site: Site
    name: str
    generators: frozenset[str]
    conditional: bool
    entropy: bool
    # The calls whose ``if seed ...:`` guard makes this seed conditional: the seeding call itself
    # when it is guarded directly, else the guarded calls of the local helper it sits in.
    guards: tuple[Site, ...] = ()
    # The caller's value a project helper replaces by a random seed when it is None
    # (``training.set_seed(seed=cfg.seed)``), when that makes this seed conditional.
    fallback: ast.expr | None = None
    # A project helper that seeds these generators only behind its own seed check.
    inherited: bool = False

    @property
    def effective(self) -> bool:
        """Does this call make its generators reproducible (maybe only conditionally)?"""
        return not self.entropy


@dataclass(frozen=True)
class SeedState:
    calls: tuple[SeedCall, ...]

    def seeded(self, generator: str) -> bool:
        """Seeded on a default run: a seed behind a check that is off by default (``if
        args.seed is not None:`` with no default seed) leaves the generator unseeded (MLR113
        says why)."""
        return any(generator in call.generators and call.effective and not call.conditional for call in self.calls)

    def never(self, generator: str) -> str:
        """How a message says the generator is left unseeded."""
        if any(generator in call.generators and call.effective for call in self.calls):
            return "which this file seeds only when a seed is given (none is by default)"
        return "which this file never seeds"

    def seeds_of(self, generator: str) -> tuple[SeedCall, ...]:
        return tuple(call for call in self.calls if generator in call.generators)


def seeding_generators(ctx: ModuleContext, name: str) -> frozenset[str] | None:
    if name in SEEDERS:
        return SEEDERS[name]
    found = ctx.project_seeders.get(name)
    if found is not None:
        return found
    for configured in ctx.seed_functions:
        if name == configured or ("." not in configured and name.rsplit(".", 1)[-1] == configured):
            return EVERYTHING
    if looks_like_seed_helper(name):
        return EVERYTHING
    return None


# Seeding helpers of libraries we do not read (``pytorch_toolbelt.utils.random.set_manual_seed``,
# ``mmengine.runner.set_random_seed``): a function imported from outside the project and named
# like a seeder seeds every generator it knows. Names of the project's own helpers (relative
# imports, or those the project index resolves) are judged by their bodies instead.
_SEED_HELPER = re.compile(r"^(?:set|fix|init|setup|reset|seed)_(?:\w+_)?seeds?(?:_\w+)?$|^seed_(?:everything|all|all_rng|torch|rng)$")
_NOT_SEEDING = ("worker", "get_", "generator")


def looks_like_seed_helper(name: str) -> bool:
    if name.startswith(".") or name.split(".", 1)[0] in _FRAMEWORK_ROOTS:
        return False
    last = name.rsplit(".", 1)[-1].lower()
    return bool(_SEED_HELPER.match(last)) and not any(word in last for word in _NOT_SEEDING)


# Frameworks whose seeders SEEDERS lists exactly: a name of theirs that is not there seeds nothing.
_FRAMEWORK_ROOTS = frozenset({
    "random", "numpy", "torch", "tensorflow", "keras", "tf_keras", "jax", "transformers", "lightning",
    "pytorch_lightning", "lightning_fabric", "accelerate", "mlrepro", "sklearn",
})


def _configured_local_call(ctx: ModuleContext, call: ast.Call) -> bool:
    """``set_seed(1)`` where ``set_seed`` is a bare configured name, defined elsewhere."""
    func = call.func
    return isinstance(func, ast.Name) and func.id in ctx.seed_functions


def entropy_source(ctx: ModuleContext, expr: ast.AST) -> str | None:
    """The qualified name of the first entropy call in ``expr`` (``time.time``), if any."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            name = ctx.call_name(node)
            if name and any(name == src or (src.endswith(".") and name.startswith(src)) for src in ENTROPY_SOURCES):
                return name
    return None


def is_entropy(ctx: ModuleContext, expr: ast.AST) -> bool:
    return entropy_source(ctx, expr) is not None


def _seed_argument(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    for name in ("seed", "a", "x"):
        value = keyword(call, name)
        if value is not None:
            return value
    return None


def _mentions_seed(expr: ast.AST) -> bool:
    return mentions(expr, "seed")


def _seed_has_default(ctx: ModuleContext) -> bool:
    """A ``--seed`` option (argparse or click) that always has a value, or a config class field
    ``seed: int = 42``: a guard on the seed being None then never skips the seeding."""
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        if isinstance(call.func, ast.Attribute) and call.func.attr in {"add_argument", "option"}:
            flags = [constant(arg) for arg in call.args]
            if any(isinstance(f, str) and "seed" in f.lower() for f in flags):
                default = keyword(call, "default")
                if default is not None and not is_none(default):
                    return True
                if constant(keyword(call, "required")) is True:
                    return True
                # ``--no-seed`` / ``--fixed-seed`` flags: False or True, never None.
                if constant(keyword(call, "action")) in {"store_true", "store_false", "count"}:
                    return True
    for site in ctx.sites(ast.AnnAssign, ast.Assign):
        node = site.node
        if not isinstance(site.enclosing(ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef), ast.ClassDef):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
        value = node.value  # type: ignore[attr-defined]
        if value is not None and not is_none(value) and any(
            isinstance(t, ast.Name) and "seed" in t.id.lower() for t in targets
        ):
            return True
    return False


def _param_has_default(function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
    """``def main(seed: int = 0)``: inside ``main`` a seed guard never skips."""
    if function is None:
        return False
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return any("seed" in arg.arg.lower() and not is_none(default) for arg, default in pairs)


def _guard(site: Site) -> tuple[ast.If | ast.IfExp, bool] | None:
    """The innermost ``if`` testing a seed value (``if args.seed is not None:``) that this call
    is under, and whether the call is in its ``else`` branch."""
    child: ast.AST = site.node
    for ancestor in reversed(site.ancestors):
        if isinstance(ancestor, ast.If) and _mentions_seed(ancestor.test) and child is not ancestor.test:
            return ancestor, any(child is node for node in ancestor.orelse)
        if isinstance(ancestor, ast.IfExp) and _mentions_seed(ancestor.test) and child is not ancestor.test:
            return ancestor, child is ancestor.orelse
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return None
        child = ancestor
    return None


def _guarded(site: Site) -> bool:
    return _guard(site) is not None and not _param_has_default(site.function)


def guard_test(site: Site) -> ast.expr | None:
    """The test of the seed guard this call sits under (for messages), if any."""
    found = _guard(site)
    return found[0].test if found else None


def _is_entropy_seed(ctx: ModuleContext, call: ast.Call, name: str) -> bool:
    if name == _HF_TRAINER:
        return False  # its first argument is the model, not a seed
    if name in ENTROPY_SEEDERS:
        return True
    argument = _seed_argument(call)
    if name in _NONE_IS_ENTROPY and (argument is None or is_none(argument)) and not has_kwargs_splat(call):
        return True
    return argument is not None and is_entropy(ctx, argument)


def _callers(ctx: ModuleContext, function: str) -> list[Site]:
    found = []
    for site in ctx.calls:
        func = site.node.func  # type: ignore[attr-defined]
        if (isinstance(func, ast.Name) and func.id == function) or (
            isinstance(func, ast.Attribute) and func.attr == function and isinstance(func.value, ast.Name)
            and func.value.id in {"self", "cls"}
        ):
            found.append(site)
    return found


# A project helper's generator that it seeds only when called with this parameter true
# (``cudnn?deterministic``): the project index writes these, the call site decides.
_IF_PARAMETER = "cudnn?"


# A project helper that draws a random seed when its parameter is None
# (``fallback?seed@0``: the parameter and its position): the project index writes these.
FALLBACK = "fallback?"
# A generator a project helper seeds only behind a seed check of its own (``conditional?torch``).
CONDITIONAL = "conditional?"
# A call that passes a seed that is None unless one is configured (``cfg.seed`` with no default
# here, ``None if seed < 0 else seed``): the index marks the callee ``name?unset``.
UNSET_SEED = "?unset"


def _fallback_argument(call: ast.Call, generators: frozenset[str]) -> tuple[frozenset[str], ast.expr | None, bool]:
    """The generators without the fallback marker, the value the call passes for the helper's
    seed (None when it passes none) and whether the helper then draws its own seed."""
    marker = next((g for g in generators if g.startswith(FALLBACK)), None)
    if marker is None:
        return generators, None, False
    rest = generators - {marker}
    name, _, position = marker[len(FALLBACK):].partition("@")
    value = keyword(call, name)
    index = int(position) if position.lstrip("-").isdigit() else -1
    if value is None and 0 <= index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
        value = call.args[index]
    if value is None:
        if has_kwargs_splat(call) or any(isinstance(a, ast.Starred) for a in call.args):
            return rest, None, False
        return rest, None, True
    return rest, value, is_none(value)


def _with_arguments(call: ast.Call, generators: frozenset[str]) -> frozenset[str]:
    decided = set()
    for generator in generators:
        if not generator.startswith(_IF_PARAMETER):
            decided.add(generator)
            continue
        value = keyword(call, generator[len(_IF_PARAMETER):])
        literal = constant(value) if value is not None else None
        if value is not None and (literal is NOT_CONSTANT or bool(literal)):
            decided.add(generator.split("?", 1)[0])
    return frozenset(decided)


def _cli_seeds(call: ast.Call) -> bool:
    """``LightningCLI(..., seed_everything_default=1234)`` (or a subclass of it) calls
    ``seed_everything`` with that seed before it builds the model. ``True`` draws a random seed."""
    value = keyword(call, "seed_everything_default")
    if value is None:
        return False
    literal = constant(value)
    return literal is NOT_CONSTANT or (isinstance(literal, int) and not isinstance(literal, bool))


def seed_state(ctx: ModuleContext) -> SeedState:
    cached = ctx.memo.get("seed_state")
    if isinstance(cached, SeedState):
        return cached
    direct: list[tuple[Site, str, frozenset[str]]] = []
    drawn: set[int] = set()
    fallbacks: dict[int, ast.expr] = {}
    inherited: set[int] = set()  # indexes into ``direct``
    trainers = {id(site.node) for site in calls_of(ctx, HF_TRAINERS)}
    lightning = ctx.imports_any(*_LIGHTNING_MODULES)
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        name = ctx.call_name(call)
        generators = seeding_generators(ctx, name) if name else None
        if generators is None and _configured_local_call(ctx, call):
            name, generators = call.func.id, EVERYTHING  # type: ignore[attr-defined]
        if generators is None and _cli_seeds(call):
            name, generators = "lightning.pytorch.cli.LightningCLI", _LIGHTNING
        if generators is None and id(call) in trainers:
            name, generators = _HF_TRAINER, _LIGHTNING
        if generators is not None and any(g.startswith(_IF_PARAMETER) for g in generators):
            generators = _with_arguments(call, generators)
        if generators is not None and any(g.startswith(FALLBACK) for g in generators):
            generators, value, draws = _fallback_argument(call, generators)
            if draws:
                drawn.add(id(call))
            elif value is not None:
                fallbacks[id(call)] = value
        if generators is not None and KERAS_BACKEND_SEED in generators and keras_backend(ctx) == TORCH_BACKEND:
            generators = generators | _KERAS_ON_TORCH
        if (
            generators is None and lightning and isinstance(call.func, ast.Attribute)
            and call.func.attr == "seed_everything" and ctx.qualname(call.func) is None
        ):
            name, generators = _FABRIC_SEED, _LIGHTNING
        if generators is not None and any(g.startswith(CONDITIONAL) for g in generators):
            plain = frozenset(g for g in generators if not g.startswith(CONDITIONAL))
            behind = frozenset(g[len(CONDITIONAL):] for g in generators if g.startswith(CONDITIONAL)) - plain
            generators = plain
            if behind and name is not None:
                inherited.add(len(direct))
                direct.append((site, name, behind))
        if generators is not None and name is not None:
            direct.append((site, name, generators))

    helpers = {f.name for site, _, _ in direct if (f := site.function) is not None}
    if helpers:
        ctx.include_names(helpers)
    has_default = _seed_has_default(ctx)

    entropies = [
        id(site.node) in drawn or _is_entropy_seed(ctx, site.node, name)  # type: ignore[arg-type]
        for site, name, _ in direct
    ]
    # ``if seed is None: random.seed(0) else: random.seed(seed)`` seeds on both branches.
    branches: dict[int, list[set[str]]] = {}
    for (site, _, generators), entropy in zip(direct, entropies):
        found = _guard(site)
        if found is not None and not entropy:
            branches.setdefault(id(found[0]), [set(), set()])[found[1]] |= generators

    calls: list[SeedCall] = []
    for index, ((site, name, generators), entropy) in enumerate(zip(direct, entropies)):
        guards: tuple[Site, ...] = ()
        found = _guard(site)
        if found is not None and _guarded(site):
            other = branches.get(id(found[0]), [set(), set()])[not found[1]]
            if not generators <= other:
                guards = (site,)
        function = site.function
        if not guards and function is not None:
            callers = [c for c in _callers(ctx, function.name) if c.function is not function]
            if callers and all(_guarded(c) for c in callers):
                guards = tuple(callers)
        fallback = fallbacks.get(id(site.node))
        argument = _seed_argument(site.node)  # type: ignore[arg-type]
        if fallback is None and isinstance(argument, ast.IfExp):
            fallback = argument  # ``seed_all_rng(None if seed < 0 else seed)``: None, so entropy, unless configured
        if not guards and fallback is not None and _unset_by_default(ctx, fallback, site.function):
            guards = (site,)
        else:
            fallback = None
        if not guards and index in inherited and not _param_has_default(site.function):
            guards = (site,)
        conditional = bool(guards) and not has_default
        calls.append(SeedCall(
            site, name, generators, conditional, entropy, guards if conditional else (), fallback if conditional else None,
            inherited=conditional and index in inherited,
        ))
    state = SeedState(tuple(calls))
    ctx.memo["seed_state"] = state
    return state


# -- switches behind a flag that is off by default ------------------------------------------


def _flag_name(expr: ast.AST) -> str | None:
    """``args.deterministic`` / ``deterministic`` / ``cfg.get("seed")`` -> the flag's name."""
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Name):
        return expr.id
    if (
        isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get"
        and expr.args and isinstance(constant(expr.args[0]), str)
    ):
        return constant(expr.args[0])  # type: ignore[return-value]
    return None


def _option_dest(call: ast.Call) -> str | None:
    dest = constant(keyword(call, "dest"))
    if isinstance(dest, str):
        return dest
    flags = [f for f in (constant(arg) for arg in call.args) if isinstance(f, str)]
    for flag in flags:
        if flag.startswith("--"):
            return flag[2:].replace("-", "_")
    if flags and not flags[0].startswith("-"):
        return flags[0]
    return None


def _option_off_by_default(ctx: ModuleContext, name: str) -> bool | None:
    """Is the command-line option ``name`` false (or None) when not given? None when this file
    does not define it."""
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        if not (isinstance(call.func, ast.Attribute) and call.func.attr in {"add_argument", "option"}):
            continue
        if _option_dest(call) != name:
            continue
        if has_kwargs_splat(call):
            return None
        default = keyword(call, "default")
        action = constant(keyword(call, "action"))
        if default is None:
            if action == "store_false":
                return False
            # store_true and is_flag default to False; a plain option defaults to None.
            return True
        value = constant(default)
        return value is not NOT_CONSTANT and not value
    return None


def _param_off_by_default(function: ast.FunctionDef | ast.AsyncFunctionDef | None, name: str) -> bool | None:
    if function is None:
        return None
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    for arg, default in pairs:
        if arg.arg == name:
            value = constant(default)
            return value is not NOT_CONSTANT and not value
    return None


def flag_off_by_default(ctx: ModuleContext, expr: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
    """Is ``expr`` (``args.deterministic``, ``args.seed``) false or None on a run given no
    options? Only when this file shows the default: an option read from a config we cannot
    see counts as on."""
    name = _flag_name(expr)
    if name is None:
        return False
    if "seed" in name.lower():
        return not _seed_has_default(ctx) and not _param_has_default(function)
    found = _param_off_by_default(function, name)
    if found is None:
        found = _option_off_by_default(ctx, name)
    return bool(found)


def _unset_by_default(ctx: ModuleContext, value: ast.expr, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
    """``cfg.seed``, ``args.seed``, ``config.get("seed")`` with no default this file shows: a
    seed read from a config or option that may be left unset. A plain name or a literal counts as given."""
    if isinstance(value, ast.IfExp) and _mentions_seed(value.test) and (is_none(value.body) or is_none(value.orelse)):
        # ``None if seed < 0 else seed + rank`` (detectron2): None unless a seed is configured.
        return not _seed_has_default(ctx) and not _param_has_default(function)
    if isinstance(value, (ast.Name, ast.Constant)):
        return False
    name = _flag_name(value)
    return name is not None and "seed" in name.lower() and flag_off_by_default(ctx, value, function)


def passes_unset_seed(ctx: ModuleContext, call: ast.Call, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
    """Does ``call`` pass, as its seed (first argument, or a ``*seed*`` keyword), a value that is
    None unless a seed is configured?"""
    values = [kw.value for kw in call.keywords if kw.arg and "seed" in kw.arg.lower()]
    if call.args and not isinstance(call.args[0], ast.Starred):
        values.append(call.args[0])
    return any(_unset_by_default(ctx, value, function) for value in values)


def _test_off_by_default(ctx: ModuleContext, test: ast.expr, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
    """A test that is false on a default run: ``if args.deterministic:`` (a store_true flag),
    ``if args.seed is not None:`` (no default seed), ``if a and b:`` with either one so."""
    if isinstance(test, ast.BoolOp):
        return isinstance(test.op, ast.And) and any(_test_off_by_default(ctx, v, function) for v in test.values)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, right = test.ops[0], test.comparators[0]
        positive = (isinstance(op, (ast.IsNot, ast.NotEq)) and is_none(right)) or (
            isinstance(op, (ast.Is, ast.Eq)) and constant(right) is True
        )
        return positive and flag_off_by_default(ctx, test.left, function)
    return flag_off_by_default(ctx, test, function)


def off_by_default_guard(ctx: ModuleContext, site: Site) -> ast.expr | None:
    """The test of an ``if`` around ``site`` (in this function) that is false on a default run,
    so the statement does not run unless an option is given."""
    child: ast.AST = site.node
    for ancestor in reversed(site.ancestors):
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return None
        if isinstance(ancestor, ast.If) and child is not ancestor.test and not any(child is n for n in ancestor.orelse):
            if _test_off_by_default(ctx, ancestor.test, site.function):
                return ancestor.test
        child = ancestor
    return None


def local_subclasses(ctx: ModuleContext, bases: frozenset[str]) -> frozenset[str]:
    """Classes this module defines (at top level) on top of one of ``bases`` (qualified names),
    directly or through another such class: ``class MyCLI(LightningCLI)``. Their call lines are
    added to the walk, since nothing else makes them interesting."""
    key = "subclasses:" + ",".join(sorted(bases))
    cached = ctx.memo.get(key)
    if isinstance(cached, frozenset):
        return cached
    found: set[str] = set()
    changed = True
    classes = [node for node in ctx.tree.body if isinstance(node, ast.ClassDef)]
    while changed:
        changed = False
        for node in classes:
            if node.name in found:
                continue
            for base in node.bases:
                if (isinstance(base, ast.Name) and base.id in found) or ctx.qualname(base) in bases:
                    found.add(node.name)
                    changed = True
                    break
    result = frozenset(found)
    ctx.memo[key] = result
    if result:
        ctx.include_names(result)
    return result


def calls_of(ctx: ModuleContext, qualnames: frozenset[str]) -> list[Site]:
    """Calls of these classes (or functions), and of local subclasses of them."""
    subclasses = local_subclasses(ctx, qualnames)
    found = []
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        if ctx.call_name(call) in qualnames or (isinstance(call.func, ast.Name) and call.func.id in subclasses):
            found.append(site)
    return found
