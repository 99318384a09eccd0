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

from mlrepro.lint.context import ModuleContext, constant, keyword
from mlrepro.lint.cudnn import (
    CUDNN_BENCHMARK,
    FULL_DETERMINISM,
    TF_DETERMINISTIC_OPS,
    TF_OP_DETERMINISM,
    assignment_sites,
    conditional_cudnn_determinism,
    cudnn_layers,
    lightning_cli_sites,
    lightning_trainers,
    trainer_default,
    sets_cudnn_determinism,
    switched_on,
    uses_cuda,
)
from mlrepro.lint.keras_backend import KERAS_BACKEND, environ_values
from mlrepro.lint.seeding import SEEDERS, TENSORFLOW, off_by_default_guard, seed_state

Hit = tuple[ast.AST, str]


def nondeterministic_cudnn(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR201: conv/RNN layers on CUDA with cuDNN's nondeterministic kernels left on.

    Reported at the first layer only: the fix is one line for the whole file, and one finding
    per layer of a ResNet would bury it.
    """
    first = next(cudnn_layers(ctx), None)
    if first is None or not uses_cuda(ctx) or sets_cudnn_determinism(ctx):
        return
    site, name = first
    conditional = conditional_cudnn_determinism(ctx)
    if conditional is not None:
        never = f"this file makes cuDNN deterministic only when `{ast.unparse(conditional)}` is set, and it is off by default"
    else:
        never = "this file never sets `torch.backends.cudnn.deterministic = True` or calls `torch.use_deterministic_algorithms(True)`"
    through = " through Keras's torch backend" if name.startswith("keras.") else ""
    yield site.node, f"`{name}` runs on CUDA{through} but {never}: cuDNN may pick nondeterministic kernels"


def cudnn_benchmark_enabled(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR202: the cuDNN autotuner chooses kernels by timing them, so each run may differ."""
    # Only a literal True: `benchmark = args.benchmark` may well be off, and saying so is noise.
    # Not under an ``if`` that is off by default (``if args.benchmark:`` with a store_true flag).
    for site, value in assignment_sites(ctx, CUDNN_BENCHMARK):
        if constant(value) is True and off_by_default_guard(ctx, site) is None:
            yield site.node, "`torch.backends.cudnn.benchmark = True` lets cuDNN pick kernels by timing them, so runs differ"
    for call in lightning_trainers(ctx):
        if constant(keyword(call, "benchmark")) is True:
            yield call, "`Trainer(benchmark=True)` turns on the cuDNN autotuner, which picks kernels by timing them, so runs differ"
    for site in lightning_cli_sites(ctx):
        call = site.node
        assert isinstance(call, ast.Call)
        if constant(trainer_default(call, "benchmark")) is True:
            yield call, (
                "`trainer_defaults={\"benchmark\": True}` turns on the cuDNN autotuner for the CLI's Trainer, which "
                "picks kernels by timing them, so runs differ"
            )


def _runs_on_tensorflow(ctx: ModuleContext) -> bool:
    if ctx.imports_any("tensorflow", "tf_keras"):
        return True
    if not ctx.imports_any("keras"):
        return False
    # Keras 3 defaults to the TensorFlow backend; JAX or PyTorch have no TF ops to make deterministic.
    backends = [constant(value) for value in environ_values(ctx, KERAS_BACKEND) if value is not None]
    return not any(isinstance(b, str) and b != "tensorflow" for b in backends)


_VISIBLE_DEVICES = frozenset({"tensorflow.config.set_visible_devices", "tensorflow.config.experimental.set_visible_devices"})
# TensorFlow that builds or trains a model (rather than only feeding tf.data an input pipeline).
_TF_MODEL_NAMES = frozenset({
    "tensorflow.Variable", "tensorflow.function", "tensorflow.GradientTape", "tensorflow.Module",
    "tensorflow.compat.v1.Session", "tensorflow.Session",
})
_TF_MODEL_PREFIXES = (
    "tensorflow.keras", "tensorflow.train.", "tensorflow.optimizers", "tensorflow.nn.", "tensorflow.estimator",
    "tensorflow.compat.v1.train.", "tensorflow.compat.v1.layers", "tensorflow.layers", "tensorflow.losses",
    "tensorflow.saved_model", "tensorflow.distribute",
)


def _hides_gpus(ctx: ModuleContext) -> bool:
    """``tf.config.set_visible_devices([], "GPU")``: TensorFlow runs on the CPU only."""
    for site, _ in ctx.calls_matching(_VISIBLE_DEVICES.__contains__):
        call = site.node
        assert isinstance(call, ast.Call)
        devices = call.args[0] if call.args else keyword(call, "devices")
        kind = call.args[1] if len(call.args) > 1 else keyword(call, "device_type")
        if isinstance(devices, (ast.List, ast.Tuple)) and not devices.elts and constant(kind) == "GPU":
            return True
    return False


def _tensorflow_only_feeds_data(ctx: ModuleContext) -> bool:
    """TensorFlow is imported for a ``tf.data`` / ``tf.image`` input pipeline of a JAX or PyTorch
    model: no Keras, no variables, functions, tapes or optimisers of its own."""
    if not ctx.imports_any("jax", "flax", "torch") or ctx.imports_any("keras", "tf_keras", "tensorflow.keras"):
        return False
    for site in ctx.sites(ast.Attribute, ast.Name):
        name = ctx.qualname(site.node)
        if name is not None and (name in _TF_MODEL_NAMES or name.startswith(_TF_MODEL_PREFIXES)):
            return False
    return True


def tf_op_determinism_disabled(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR203: TensorFlow seeds set, op determinism never enabled. Reported at the first seed.
    Not where TensorFlow cannot reach a GPU or only feeds a ``tf.data`` pipeline."""
    if not _runs_on_tensorflow(ctx) or _hides_gpus(ctx) or _tensorflow_only_feeds_data(ctx):
        return
    seeds = [
        call for call in seed_state(ctx).calls
        # Library seeders only: a configured seed helper is defined elsewhere and may enable it.
        if TENSORFLOW in call.generators and call.name in SEEDERS and call.name not in FULL_DETERMINISM
    ]
    if not seeds:
        return
    if any(True for _ in ctx.calls_matching(TF_OP_DETERMINISM.__contains__)) or any(
        value is None or switched_on(value) for value in environ_values(ctx, TF_DETERMINISTIC_OPS)
    ):
        return
    first = seeds[0]
    yield first.site.node, (
        f"`{first.name}()` seeds TensorFlow but GPU ops stay nondeterministic: this file never calls "
        "`tf.config.experimental.enable_op_determinism()` (or sets `TF_DETERMINISTIC_OPS=1`)"
    )
