"""What a module does with cuDNN: the layers that run through it, whether it runs on CUDA, and
whether it switches cuDNN's nondeterministic kernels off. Shared by the determinism rules and
the project index (an entry point that runs on CUDA the layers another module defines).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mlrepro.lint.context import NOT_CONSTANT, ModuleContext, Site, constant, has_kwargs_splat, keyword
from mlrepro.lint.keras_backend import TORCH_BACKEND, keras_backend
from mlrepro.lint.seeding import HF_TRAINERS, calls_of, flag_off_by_default, off_by_default_guard

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
# Keras 3 layers that, on the torch backend, call torch's convolutions (keras/src/backend/torch/nn.py)
# or, for LSTM and GRU, cuDNN's RNN kernels (rnn.py: unless ``use_cudnn=False``).
_KERAS_CUDNN_LAYERS = frozenset(
    f"keras.layers.{name}"
    for base in ("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D")
    for name in (base, base + "Transpose")
) | frozenset(
    f"keras.layers.{name}" for name in (
        "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D",
        "DepthwiseConv1D", "DepthwiseConv2D", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    )
)
_KERAS_CUDNN_RNNS = frozenset({"keras.layers.LSTM", "keras.layers.GRU"})

# Model-zoo constructors: every torchvision model (ViT and Swin included: their stem is a
# convolution), timm's factory and segmentation_models_pytorch's architectures are conv nets.
_ZOO_FACTORIES = frozenset({
    "timm.create_model", "timm.models.create_model", "segmentation_models_pytorch.create_model",
    "lightning.pytorch.utilities.model_helpers.get_torchvision_model",
    "pytorch_lightning.utilities.model_helpers.get_torchvision_model",
    "sentence_transformers.models.CNN", "sentence_transformers.models.CNN.CNN",
})
# diffusers' convolutional models (built or loaded: ``UNet2DConditionModel.from_pretrained``).
_DIFFUSERS_CONV = ("UNet", "Autoencoder", "VQModel", "ControlNet", "T2IAdapter")
_LOADERS = ("from_pretrained", "from_config", "from_single_file")
# Names under ``torchvision.models`` that build no network.
_ZOO_NOT_MODELS = frozenset({"get_weight", "get_model_weights", "list_models", "Weights", "WeightsEnum"})
_ZOO_NOT_MODEL_PACKAGES = ("torchvision.models.feature_extraction.", "torchvision.models._")

_CUDA_PROBES = frozenset({
    "torch.cuda.is_available", "torch.cuda.device_count", "torch.cuda.set_device", "torch.cuda.current_device",
})

_LIGHTNING_TRAINERS = frozenset({
    "lightning.Trainer", "lightning.pytorch.Trainer", "pytorch_lightning.Trainer", "lightning.pytorch.trainer.Trainer",
    "pytorch_lightning.trainer.Trainer", "lightning.pytorch.trainer.trainer.Trainer",
    "pytorch_lightning.trainer.trainer.Trainer",
})
_LIGHTNING_FABRICS = frozenset({"lightning.Fabric", "lightning.fabric.Fabric", "lightning_fabric.Fabric"})
LIGHTNING_CLIS = frozenset({"lightning.pytorch.cli.LightningCLI", "pytorch_lightning.cli.LightningCLI"})
# Lightning's default accelerator is "auto": a GPU whenever one is present.
_GPU_ACCELERATORS = frozenset({"auto", "gpu", "cuda"})
# Accelerator objects whose device is the GPU when there is one.
_DEVICE_PICKERS = frozenset({
    "accelerate.Accelerator", "accelerate.accelerator.Accelerator", "deepspeed.get_accelerator",
    "deepspeed.accelerator.get_accelerator",
})

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


def assignment_sites(ctx: ModuleContext, qualname: str) -> Iterator[tuple[Site, ast.expr]]:
    """``torch.backends.cudnn.X = value`` (aliases and chained targets included), with its site."""
    for site in ctx.sites(ast.Assign):
        node = site.node
        assert isinstance(node, ast.Assign)
        for target in node.targets:
            if isinstance(target, ast.Attribute) and ctx.qualname(target) == qualname:
                yield site, node.value


def assignments(ctx: ModuleContext, qualname: str) -> Iterator[tuple[ast.Assign, ast.expr]]:
    for site, value in assignment_sites(ctx, qualname):
        yield site.node, value  # type: ignore[misc]


def lightning_trainers(ctx: ModuleContext) -> Iterator[ast.Call]:
    for site in calls_of(ctx, _LIGHTNING_TRAINERS):
        yield site.node  # type: ignore[misc]


def lightning_cli_sites(ctx: ModuleContext) -> Iterator[Site]:
    """``LightningCLI(...)``, a local subclass of it, or any call that passes the CLI's own
    ``seed_everything_default=`` / ``trainer_defaults=`` (a subclass defined elsewhere)."""
    known = {id(site.node) for site in calls_of(ctx, LIGHTNING_CLIS)}
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        if id(call) in known or keyword(call, "trainer_defaults") is not None or keyword(call, "seed_everything_default") is not None:
            yield site


def trainer_default(call: ast.Call, name: str) -> ast.expr | None:
    """The value of ``name`` in a CLI's ``trainer_defaults={...}`` literal, if it is there."""
    defaults = keyword(call, "trainer_defaults")
    if isinstance(defaults, ast.Dict):
        for key, value in zip(defaults.keys, defaults.values):
            if key is not None and constant(key) == name:
                return value
    if isinstance(defaults, ast.Call) and isinstance(defaults.func, ast.Name) and defaults.func.id == "dict":
        return keyword(defaults, name)
    return None


def _on(ctx: ModuleContext, site: Site, value: ast.expr | None) -> bool:
    """A switch that is on on a default run: set to something truthy, not to a flag that is off
    unless given (``args.deterministic`` of a ``store_true`` option), and not only under an
    ``if`` that is false by default."""
    return (
        switched_on(value) and not (value is not None and flag_off_by_default(ctx, value, site.function))
        and off_by_default_guard(ctx, site) is None
    )


def _determinism_switches(ctx: ModuleContext) -> Iterator[tuple[Site, ast.expr | None]]:
    """Every place that may turn cuDNN determinism on, and the value it sets (None: it does,
    whatever its arguments)."""
    for site, value in assignment_sites(ctx, _CUDNN_DETERMINISTIC):
        yield site, value
    for site, value in assignment_sites(ctx, _CUDNN_ENABLED):
        # no cuDNN at all, so none of its nondeterministic kernels
        yield site, (ast.Constant(value=True) if constant(value) is False else ast.Constant(value=False))
    for site, name in ctx.calls_matching(lambda n: n in _DETERMINISM_SWITCHES or n in FULL_DETERMINISM):
        call = site.node
        assert isinstance(call, ast.Call)
        if name in FULL_DETERMINISM or has_kwargs_splat(call):
            yield site, ast.Constant(value=True)
        else:
            yield site, _argument(call, _DETERMINISM_SWITCHES[name])
    for site in calls_of(ctx, _LIGHTNING_TRAINERS):
        call = site.node
        assert isinstance(call, ast.Call)
        yield site, ast.Constant(value=True) if has_kwargs_splat(call) else keyword(call, "deterministic")
    for site in lightning_cli_sites(ctx):
        yield site, trainer_default(site.node, "deterministic")  # type: ignore[arg-type]


def sets_cudnn_determinism(ctx: ModuleContext) -> bool:
    return any(_on(ctx, site, value) for site, value in _determinism_switches(ctx))


def determinism_helpers(ctx: ModuleContext) -> dict[str, str | None]:
    """Top-level functions that switch cuDNN determinism on, for the project index: None when
    they always do, or the parameter that must be true when an ``if`` on it guards the switch
    (yolov5's ``init_seeds(seed, deterministic=False)``, called with ``deterministic=True``)."""
    found: dict[str, str | None] = {}
    for site, value in _determinism_switches(ctx):
        if not switched_on(value) or len(site.ancestors) < 2:
            continue
        function = site.ancestors[1]
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if _on(ctx, site, value):
            found[function.name] = None
            continue
        parameter = _guarding_parameter(site, function)
        if parameter is not None and found.get(function.name, parameter) is not None:
            found[function.name] = parameter
    return found


def _guarding_parameter(site: Site, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    args = function.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    for ancestor in reversed(site.ancestors):
        if ancestor is function:
            return None
        if isinstance(ancestor, ast.If):
            for node in ast.walk(ancestor.test):
                if isinstance(node, ast.Name) and node.id in names:
                    return node.id
    return None


def conditional_cudnn_determinism(ctx: ModuleContext) -> ast.AST | None:
    """What turns determinism on only when an option is given (for messages), if anything."""
    for site, value in _determinism_switches(ctx):
        if switched_on(value):
            guard = off_by_default_guard(ctx, site)
            if guard is not None:
                return guard
            if value is not None and flag_off_by_default(ctx, value, site.function):
                return value
    return None


def _is_cuda_string(value: object) -> bool:
    return isinstance(value, str) and (value == "cuda" or value.startswith("cuda:"))


def _gpu_accelerator(value: ast.expr | None) -> bool:
    """Lightning's ``accelerator=``: absent means "auto" (a GPU when present); a non-literal
    (``args.accelerator``) may be a GPU too."""
    if value is None:
        return True
    literal = constant(value)
    return literal is NOT_CONSTANT or literal in _GPU_ACCELERATORS


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
        if name in _CUDA_PROBES or (name is not None and name.startswith("torch.accelerator.")):
            return True
        if name in _DEVICE_PICKERS and constant(keyword(call, "cpu")) is not True:
            return True  # Accelerator(), deepspeed's get_accelerator(): the GPU when there is one
    for site in [*calls_of(ctx, _LIGHTNING_TRAINERS), *calls_of(ctx, _LIGHTNING_FABRICS)]:
        call = site.node
        assert isinstance(call, ast.Call)
        if has_kwargs_splat(call) and keyword(call, "accelerator") is None:
            continue  # the accelerator comes from a config we cannot read
        if _gpu_accelerator(keyword(call, "accelerator")):
            return True
    for site in lightning_cli_sites(ctx):
        call = site.node
        assert isinstance(call, ast.Call)
        if _gpu_accelerator(trainer_default(call, "accelerator")):
            return True
    # A Hugging Face Trainer trains on the GPU when there is one, unless told not to.
    if calls_of(ctx, HF_TRAINERS):
        return not any(
            constant(keyword(site.node, flag)) is not False  # type: ignore[arg-type]
            for site in ctx.calls for flag in ("use_cpu", "no_cuda") if keyword(site.node, flag) is not None  # type: ignore[arg-type]
        )
    return False


def _zoo_model(name: str) -> bool:
    if name in _ZOO_FACTORIES:
        return True
    if name.startswith("torchvision.models.") and not name.startswith(_ZOO_NOT_MODEL_PACKAGES):
        last = name.rsplit(".", 1)[-1]
        return not last.startswith("_") and last not in _ZOO_NOT_MODELS and not last.endswith("_Weights")
    if name.startswith("diffusers."):
        parts = name.split(".")
        cls = parts[-2] if parts[-1] in _LOADERS and len(parts) > 2 else parts[-1]
        return cls.startswith(_DIFFUSERS_CONV)
    if name.startswith("segmentation_models_pytorch.") and name.count(".") == 1:
        return name.rsplit(".", 1)[-1][:1].isupper()  # smp.Unet, smp.FPN, ...: not smp.losses
    return False


def _keras_application(name: str) -> bool:
    """``keras.applications.ResNet50`` (or ``keras.applications.resnet.ResNet50``): every Keras
    application is a conv net; ``preprocess_input`` and ``decode_predictions`` build nothing."""
    return name.startswith("keras.applications.") and name.rsplit(".", 1)[-1][:1].isupper()


def _keras_cudnn_layer(site: Site, name: str) -> bool:
    if name in _KERAS_CUDNN_LAYERS or _keras_application(name):
        return True
    return name in _KERAS_CUDNN_RNNS and constant(keyword(site.node, "use_cudnn")) is not False  # type: ignore[arg-type]


def _torch_cudnn_layer(name: str) -> bool:
    return name in _CUDNN_LAYERS or name.startswith(_FUNCTIONAL_CONV) or _zoo_model(name)


def cudnn_layers(ctx: ModuleContext) -> Iterator[tuple[Site, str]]:
    """Layers that run through cuDNN: torch's, and Keras's when Keras runs on the torch backend."""
    if not ctx.imports_any("keras") or keras_backend(ctx) != TORCH_BACKEND:
        return ctx.calls_matching(_torch_cudnn_layer)
    return ((site, name) for site, name in ctx.resolved_calls() if _torch_cudnn_layer(name) or _keras_cudnn_layer(site, name))
