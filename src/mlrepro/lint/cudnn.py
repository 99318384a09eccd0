"""What a module does with cuDNN: the layers that run through it, whether it runs on CUDA, and
whether it switches cuDNN's nondeterministic kernels off. Shared by the determinism rules and
the project index (an entry point that runs on CUDA the layers another module defines).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mlrepro.lint.context import NOT_CONSTANT, ModuleContext, Site, constant, has_kwargs_splat, keyword

_CUDNN_DETERMINISTIC = "torch.backends.cudnn.deterministic"
CUDNN_BENCHMARK = "torch.backends.cudnn.benchmark"
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
FULL_DETERMINISM = frozenset({"transformers.enable_full_determinism", "transformers.trainer_utils.enable_full_determinism"})

TF_OP_DETERMINISM = frozenset({"tensorflow.config.experimental.enable_op_determinism"}) | FULL_DETERMINISM
TF_DETERMINISTIC_OPS = "TF_DETERMINISTIC_OPS"


def switched_on(expr: ast.AST | None) -> bool:
    """A literal decides; anything else (a variable, a config value) is taken as set."""
    if expr is None:
        return False
    value = constant(expr)
    if value is NOT_CONSTANT:
        return True
    return bool(value) and value not in ("0", "default", "false", "False")


def _argument(call: ast.Call, name: str) -> ast.expr | None:
    return call.args[0] if call.args else keyword(call, name)


def assignments(ctx: ModuleContext, qualname: str) -> Iterator[tuple[ast.Assign, ast.expr]]:
    """``torch.backends.cudnn.X = value`` (aliases and chained targets included)."""
    for site in ctx.sites(ast.Assign):
        node = site.node
        assert isinstance(node, ast.Assign)
        for target in node.targets:
            if isinstance(target, ast.Attribute) and ctx.qualname(target) == qualname:
                yield node, node.value


def lightning_trainers(ctx: ModuleContext) -> Iterator[ast.Call]:
    for site, _ in ctx.calls_matching(_LIGHTNING_TRAINERS.__contains__):
        yield site.node  # type: ignore[misc]


def sets_cudnn_determinism(ctx: ModuleContext) -> bool:
    if any(switched_on(value) for _, value in assignments(ctx, _CUDNN_DETERMINISTIC)):
        return True
    if any(constant(value) is False for _, value in assignments(ctx, _CUDNN_ENABLED)):
        return True  # no cuDNN at all, so none of its nondeterministic kernels
    for site, name in ctx.calls_matching(lambda n: n in _DETERMINISM_SWITCHES or n in FULL_DETERMINISM):
        call = site.node
        assert isinstance(call, ast.Call)
        if name in FULL_DETERMINISM or has_kwargs_splat(call) or switched_on(_argument(call, _DETERMINISM_SWITCHES[name])):
            return True
    return any(has_kwargs_splat(call) or switched_on(keyword(call, "deterministic")) for call in lightning_trainers(ctx))


def _is_cuda_string(value: object) -> bool:
    return isinstance(value, str) and (value == "cuda" or value.startswith("cuda:"))


def uses_cuda(ctx: ModuleContext) -> bool:
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


def cudnn_layers(ctx: ModuleContext) -> Iterator[tuple[Site, str]]:
    return ctx.calls_matching(lambda n: n in _CUDNN_LAYERS or n.startswith(_FUNCTIONAL_CONV))
