"""Determinism (MLR2xx): seeded code that still computes different numbers on every run.

Seeds fix the random draws; they do not fix which GPU kernel runs. cuDNN and TensorFlow pick
fast kernels that accumulate in a nondeterministic order (atomics), or pick kernels by timing,
so two runs from the same seed drift apart in the last bits and then in the metrics.
Like seeding, the switches are decided per file: one ``cudnn.deterministic = True`` anywhere
in the module (a helper function included) counts for all of it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mlrepro.lint.context import NOT_CONSTANT, ModuleContext, Site, constant, has_kwargs_splat, keyword
from mlrepro.lint.seeding import SEEDERS, TENSORFLOW, seed_state

Hit = tuple[ast.AST, str]

_CUDNN_DETERMINISTIC = "torch.backends.cudnn.deterministic"
_CUDNN_BENCHMARK = "torch.backends.cudnn.benchmark"
_CUDNN_ENABLED = "torch.backends.cudnn.enabled"

# Layers whose CUDA forward/backward go through cuDNN (or atomics-based kernels) that are
# nondeterministic unless asked not to be.
_CUDNN_LAYERS = frozenset(
    f"torch.nn.{name}"
    for base in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
    for name in (base, "Lazy" + base)
) | frozenset({"torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNN"})
_FUNCTIONAL_CONV = "torch.nn.functional.conv"  # conv1d..3d, conv_transpose1d..3d

_CUDA_PROBES = frozenset({
    "torch.cuda.is_available", "torch.cuda.device_count", "torch.cuda.set_device", "torch.cuda.current_device",
})

_LIGHTNING_TRAINERS = frozenset({"lightning.Trainer", "lightning.pytorch.Trainer", "pytorch_lightning.Trainer"})

# Each call turns deterministic algorithms on when its first argument (or this keyword) is truthy.
_DETERMINISM_SWITCHES: dict[str, str] = {
    "torch.use_deterministic_algorithms": "mode",
    "torch.set_deterministic": "d",  # the PyTorch 1.7 spelling
    "torch.set_deterministic_debug_mode": "debug_mode",  # "warn"/"error"/1/2; 0/"default" is off
}
# Helpers that set every determinism switch themselves.
_FULL_DETERMINISM = frozenset({"transformers.enable_full_determinism", "transformers.trainer_utils.enable_full_determinism"})

_TF_OP_DETERMINISM = frozenset({"tensorflow.config.experimental.enable_op_determinism"}) | _FULL_DETERMINISM
_TF_DETERMINISTIC_OPS = "TF_DETERMINISTIC_OPS"


def _switched_on(expr: ast.AST | None) -> bool:
    """A literal decides; anything else (a variable, a config value) is taken as set."""
    if expr is None:
        return False
    value = constant(expr)
    if value is NOT_CONSTANT:
        return True
    return bool(value) and value not in ("0", "default", "false", "False")


def _argument(call: ast.Call, name: str) -> ast.expr | None:
    return call.args[0] if call.args else keyword(call, name)


def _assignments(ctx: ModuleContext, qualname: str) -> Iterator[tuple[ast.Assign, ast.expr]]:
    """``torch.backends.cudnn.X = value`` (aliases and chained targets included)."""
    for site in ctx.sites(ast.Assign):
        node = site.node
        assert isinstance(node, ast.Assign)
        for target in node.targets:
            if isinstance(target, ast.Attribute) and ctx.qualname(target) == qualname:
                yield node, node.value


def _lightning_trainers(ctx: ModuleContext) -> Iterator[ast.Call]:
    for site, _ in ctx.calls_matching(_LIGHTNING_TRAINERS.__contains__):
        yield site.node  # type: ignore[misc]


def _sets_cudnn_determinism(ctx: ModuleContext) -> bool:
    if any(_switched_on(value) for _, value in _assignments(ctx, _CUDNN_DETERMINISTIC)):
        return True
    if any(constant(value) is False for _, value in _assignments(ctx, _CUDNN_ENABLED)):
        return True  # no cuDNN at all, so none of its nondeterministic kernels
    for site, name in ctx.calls_matching(lambda n: n in _DETERMINISM_SWITCHES or n in _FULL_DETERMINISM):
        call = site.node
        assert isinstance(call, ast.Call)
        if name in _FULL_DETERMINISM or has_kwargs_splat(call) or _switched_on(_argument(call, _DETERMINISM_SWITCHES[name])):
            return True
    return any(has_kwargs_splat(call) or _switched_on(keyword(call, "deterministic")) for call in _lightning_trainers(ctx))


def _is_cuda_string(value: object) -> bool:
    return isinstance(value, str) and (value == "cuda" or value.startswith("cuda:"))


def _uses_cuda(ctx: ModuleContext) -> bool:
    # "cuda" literals cover .to("cuda"), device="cuda:0", torch.device("cuda"), accelerator="cuda".
    if any(_is_cuda_string(site.node.value) for site in ctx.sites(ast.Constant)):  # type: ignore[attr-defined]
        return True
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        if isinstance(call.func, ast.Attribute) and call.func.attr == "cuda":
            return True  # model.cuda(), tensor.cuda(0)
        name = ctx.call_name(call)
        if name in _CUDA_PROBES:
            return True
        if name in _LIGHTNING_TRAINERS and constant(keyword(call, "accelerator")) == "gpu":
            return True
    return False


def _cudnn_layers(ctx: ModuleContext) -> Iterator[tuple[Site, str]]:
    return ctx.calls_matching(lambda n: n in _CUDNN_LAYERS or n.startswith(_FUNCTIONAL_CONV))


def nondeterministic_cudnn(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR201: conv/RNN layers on CUDA with cuDNN's nondeterministic kernels left on.

    Reported at the first layer only: the fix is one line for the whole file, and one finding
    per layer of a ResNet would bury it.
    """
    first = next(_cudnn_layers(ctx), None)
    if first is None or not _uses_cuda(ctx) or _sets_cudnn_determinism(ctx):
        return
    site, name = first
    yield site.node, (
        f"`{name}` runs on CUDA but this file never sets `torch.backends.cudnn.deterministic = True` "
        "or calls `torch.use_deterministic_algorithms(True)`: cuDNN may pick nondeterministic kernels"
    )


def cudnn_benchmark_enabled(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR202: the cuDNN autotuner chooses kernels by timing them, so each run may differ."""
    # Only a literal True: `benchmark = args.benchmark` may well be off, and saying so is noise.
    for node, value in _assignments(ctx, _CUDNN_BENCHMARK):
        if constant(value) is True:
            yield node, "`torch.backends.cudnn.benchmark = True` lets cuDNN pick kernels by timing them, so runs differ"
    for call in _lightning_trainers(ctx):
        if constant(keyword(call, "benchmark")) is True:
            yield call, "`Trainer(benchmark=True)` turns on the cuDNN autotuner, which picks kernels by timing them, so runs differ"


def _environ_values(ctx: ModuleContext, variable: str) -> Iterator[ast.expr | None]:
    """Values this module gives an environment variable (None: set through a mapping we cannot
    read): ``os.environ[v] = x``, ``os.environ.setdefault(v, x)``, ``os.environ.update(...)``."""
    for site in ctx.sites(ast.Assign):
        node = site.node
        assert isinstance(node, ast.Assign)
        for target in node.targets:
            if isinstance(target, ast.Subscript) and ctx.qualname(target.value) == "os.environ" and constant(target.slice) == variable:
                yield node.value
    for site, name in ctx.calls_matching(lambda n: n in ("os.environ.setdefault", "os.environ.update", "os.putenv")):
        call = site.node
        assert isinstance(call, ast.Call)
        if name != "os.environ.update":
            if len(call.args) >= 2 and constant(call.args[0]) == variable:
                yield call.args[1]
            continue
        if has_kwargs_splat(call):
            yield None
        value = keyword(call, variable)
        if value is not None:
            yield value
        for arg in call.args:
            if not isinstance(arg, ast.Dict):
                yield None
                continue
            for key, item in zip(arg.keys, arg.values):
                if key is None:
                    yield None
                elif constant(key) == variable:
                    yield item


def _runs_on_tensorflow(ctx: ModuleContext) -> bool:
    if ctx.imports_any("tensorflow", "tf_keras"):
        return True
    if not ctx.imports_any("keras"):
        return False
    # Keras 3 defaults to the TensorFlow backend; JAX or PyTorch have no TF ops to make deterministic.
    backends = [constant(value) for value in _environ_values(ctx, "KERAS_BACKEND") if value is not None]
    return not any(isinstance(b, str) and b != "tensorflow" for b in backends)


def tf_op_determinism_disabled(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR203: TensorFlow seeds set, op determinism never enabled. Reported at the first seed."""
    if not _runs_on_tensorflow(ctx):
        return
    seeds = [
        call for call in seed_state(ctx).calls
        # Library seeders only: a configured seed helper is defined elsewhere and may enable it.
        if TENSORFLOW in call.generators and call.name in SEEDERS and call.name not in _FULL_DETERMINISM
    ]
    if not seeds:
        return
    if any(True for _ in ctx.calls_matching(_TF_OP_DETERMINISM.__contains__)) or any(
        value is None or _switched_on(value) for value in _environ_values(ctx, _TF_DETERMINISTIC_OPS)
    ):
        return
    first = seeds[0]
    yield first.site.node, (
        f"`{first.name}()` seeds TensorFlow but GPU ops stay nondeterministic: this file never calls "
        "`tf.config.experimental.enable_op_determinism()` (or sets `TF_DETERMINISTIC_OPS=1`)"
    )
