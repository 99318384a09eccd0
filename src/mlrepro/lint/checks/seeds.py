"""Seeds (MLR1xx): randomness drawn from a generator that this module never seeds."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from mlrepro.lint.context import ModuleContext, constant, has_kwargs_splat, is_none, keyword
from mlrepro.lint.keras_backend import TENSORFLOW_BACKEND, TORCH_BACKEND, keras_backend
from mlrepro.lint.seeding import (
    CUDA,
    ENTROPY_SEEDERS,
    KERAS_BACKEND_SEED,
    NUMPY,
    PYTHON,
    TENSORFLOW,
    TORCH,
    entropy_source,
    guard_test,
    seed_state,
)

Hit = tuple[ast.AST, str]

PYTHON_RANDOM_FUNCTIONS = frozenset({
    "random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
    "gauss", "normalvariate", "lognormvariate", "expovariate", "betavariate", "gammavariate",
    "triangular", "vonmisesvariate", "paretovariate", "weibullvariate", "getrandbits",
    "randbytes", "binomialvariate",
})


def unseeded_python_random(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR101: ``random.<fn>()`` draws from the global generator and nothing seeds it."""
    state = seed_state(ctx)
    if state.seeded(PYTHON):
        return
    for site, name in ctx.calls_matching(lambda n: n.startswith("random.")):
        function = name[len("random."):]
        if function in PYTHON_RANDOM_FUNCTIONS:
            yield site.node, f"`random.{function}()` uses Python's global generator, {state.never(PYTHON)} (`random.seed(...)`)"


# -- helpers shared by the rules below ------------------------------------------------------


def _spelling(call: ast.Call) -> str:
    """How the source spells the called thing (``nn.Linear``), for messages."""
    func = call.func
    try:
        text = ast.unparse(func)
    except (ValueError, AttributeError, RecursionError):  # pragma: no cover - defensive
        return "call"
    if isinstance(func, ast.Attribute) and ("(" in text or len(text) > 60):
        return f".{func.attr}"  # a method on a computed receiver: the receiver is noise
    return text if len(text) <= 60 else text[:57] + "..."


def _argument(call: ast.Call, position: int | None, *names: str) -> ast.expr | None:
    """The argument passed positionally at ``position`` or by one of ``names``."""
    if position is not None and len(call.args) > position and not any(
        isinstance(arg, ast.Starred) for arg in call.args[: position + 1]
    ):
        return call.args[position]
    for name in names:
        value = keyword(call, name)
        if value is not None:
            return value
    return None


def _set(call: ast.Call, position: int | None, *names: str) -> bool:
    """Is this argument given a value other than a literal None (or maybe, via ``**kwargs``)?
    A variable counts as set: it is configured somewhere we cannot see."""
    value = _argument(call, position, *names)
    if value is not None:
        return not is_none(value)
    return has_kwargs_splat(call) or (position is not None and any(isinstance(a, ast.Starred) for a in call.args))


def _method_anchor(call: ast.Call) -> ast.AST:
    """Where to report ``x.shuffle(...)``: at ``shuffle``, which in a multi-line method chain is
    not on the line where the whole expression starts."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.end_lineno is None or func.end_lineno == call.lineno:
        return call
    anchor = ast.Name(id=func.attr, ctx=ast.Load())
    anchor.lineno = func.end_lineno
    anchor.col_offset = max(0, (func.end_col_offset or 0) - len(func.attr.encode("utf-8")))
    anchor.end_lineno = call.end_lineno
    anchor.end_col_offset = call.end_col_offset
    return anchor


def _receiver(ctx: ModuleContext, expr: ast.AST) -> tuple[str | None, ast.AST]:
    """What a method is called on: the qualified name it resolves to (``tf.data.Dataset.range(3)
    .map(f)`` -> ``tensorflow.data.Dataset.range``) or, when nothing resolves, its innermost name
    (``ds``, or ``self.train_ds``)."""
    node = expr
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, (ast.Attribute, ast.Name)):
            name = ctx.qualname(node)
            if name is not None:
                return name, node
            if isinstance(node, ast.Name):
                return None, node
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                return None, node
            node = node.value
        else:
            return None, node


# -- MLR102 ---------------------------------------------------------------------------------

_PYTHON_INSTANCES = frozenset({"random.Random"})


def _entropy_or_unseeded(ctx: ModuleContext, call: ast.Call, seed: ast.expr | None) -> str | None:
    """Why an explicit generator instance is not reproducible, or None when it is. A seed that
    may be inside ``*args`` / ``**kwargs`` counts as given."""
    if seed is None:
        splat = has_kwargs_splat(call) or any(isinstance(arg, ast.Starred) for arg in call.args)
        return None if splat else "no seed"
    if is_none(seed):
        return "seed `None`"
    source = entropy_source(ctx, seed)
    return f"a seed drawn from `{source}()`" if source else None


def unseeded_random_instance(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR102: ``random.Random()`` seeds itself from OS entropy. ``SystemRandom`` is meant to."""
    for site, name in ctx.calls_matching(_PYTHON_INSTANCES.__contains__):
        call = site.node
        assert isinstance(call, ast.Call)
        why = _entropy_or_unseeded(ctx, call, _argument(call, 0, "x"))
        if why:
            yield call, f"`{_spelling(call)}()` with {why} seeds itself from OS entropy; pass a configured seed (`random.Random(seed)`)"


# -- MLR103 ---------------------------------------------------------------------------------

# Everything lower-case in ``numpy.random`` is a draw from the legacy global generator, except:
_NUMPY_NOT_DRAWS = frozenset({
    "seed", "get_state", "set_state", "default_rng", "get_bit_generator", "set_bit_generator",
    "bit_generator", "mtrand",
})


def _numpy_global_draw(name: str) -> bool:
    if not name.startswith("numpy.random."):
        return False
    function = name[len("numpy.random."):]
    return "." not in function and function[:1].islower() and function not in _NUMPY_NOT_DRAWS


def unseeded_numpy_global(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR103: ``np.random.rand()`` and friends draw from NumPy's global generator, unseeded."""
    state = seed_state(ctx)
    if state.seeded(NUMPY):
        return
    hits: list[Hit] = [
        (site.node, (
            f"`{_spelling(site.node)}()` draws from NumPy's global generator, {state.never(NUMPY)} "  # type: ignore[arg-type]
            "(`np.random.seed(...)`); prefer `rng = np.random.default_rng(seed)`"
        ))
        for site, name in ctx.calls_matching(_numpy_global_draw)
    ]
    hits += _image_data_generators(ctx, state.never(NUMPY))
    yield from sorted(hits, key=lambda hit: (getattr(hit[0], "lineno", 0), getattr(hit[0], "col_offset", 0)))


# Keras' ImageDataGenerator draws its augmentations (and its iterators their shuffles) from
# NumPy's global generator; ``.flow(..., seed=s)`` reseeds it with ``s`` before every batch.
_IMAGE_GENERATOR_ROOTS = ("keras.", "tensorflow.keras.", "tensorflow.compat.v1.keras.", "tf_keras.")
_RANDOM_AUGMENTATIONS = (
    "rotation_range", "width_shift_range", "height_shift_range", "brightness_range", "shear_range",
    "zoom_range", "channel_shift_range", "horizontal_flip", "vertical_flip",
)
# method -> (position of ``shuffle``, position of ``seed``)
_FLOWS: dict[str, tuple[int, int]] = {"flow": (3, 5), "flow_from_directory": (6, 7), "flow_from_dataframe": (10, 11)}


def _image_data_generator(name: str | None) -> bool:
    return name is not None and name.endswith(".ImageDataGenerator") and name.startswith(_IMAGE_GENERATOR_ROOTS)


def _augments(call: ast.Call) -> bool:
    """Any random augmentation switched on (a non-literal counts: it is configured to be on)."""
    for name in _RANDOM_AUGMENTATIONS:
        value = keyword(call, name)
        if value is not None and constant(value) not in (0, 0.0, False, None, (), []):
            return True
    return has_kwargs_splat(call)


def _generator_names(ctx: ModuleContext) -> dict[str, ast.Call]:
    """``datagen = ImageDataGenerator(...)`` (or ``self.datagen = ...``): name -> constructor."""
    names: dict[str, ast.Call] = {}
    for site in ctx.sites(ast.Assign):
        node = site.node
        assert isinstance(node, ast.Assign)
        if isinstance(node.value, ast.Call) and _image_data_generator(ctx.call_name(node.value)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node.value
                elif isinstance(target, ast.Attribute):
                    names[target.attr] = node.value
    return names


def _image_data_generators(ctx: ModuleContext, never: str) -> Iterator[Hit]:
    """``datagen.flow(...)`` without ``seed=``: it shuffles (by default) and augments from NumPy's
    global generator. A random ``ImageDataGenerator`` whose flows this file never calls (it is
    passed elsewhere) is reported where it is built, unless some flow of this file is seeded."""
    if not ctx.imports_any("keras", "tensorflow", "tf_keras"):
        return
    names = _generator_names(ctx)
    used: set[int] = set()
    seeded_flow = False
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr not in _FLOWS:
            continue
        shuffle_at, seed_at = _FLOWS[func.attr]
        if _set(call, seed_at, "seed"):
            seeded_flow = True
            continue
        receiver = func.value
        if isinstance(receiver, ast.Call) and _image_data_generator(ctx.call_name(receiver)):
            generator: ast.Call | None = receiver
        elif isinstance(receiver, ast.Name):
            generator = names.get(receiver.id)
        elif isinstance(receiver, ast.Attribute):
            generator = names.get(receiver.attr)
        else:
            generator = None
        if generator is None:
            continue
        used.add(id(generator))
        shuffles = constant(_argument(call, shuffle_at, "shuffle")) not in (False, 0)
        augments = _augments(generator)
        if not shuffles and not augments:
            continue
        what = " and ".join(w for w, on in (("shuffles", shuffles), ("augments", augments)) if on)
        yield _method_anchor(call), (
            f"`{_spelling(call)}(...)` {what} with NumPy's global generator, {never} (`np.random.seed(...)`); "
            "or pass `seed=` to it"
        )
    if seeded_flow:
        return
    for site, name in ctx.calls_matching(_image_data_generator):
        call = site.node
        assert isinstance(call, ast.Call)
        if id(call) not in used and _augments(call) and not has_kwargs_splat(call):
            yield call, (
                f"`{_spelling(call)}(...)` draws its random augmentations from NumPy's global generator, {never} "
                "(`np.random.seed(...)`); or pass `seed=` to its `.flow(...)`"
            )


# -- MLR104 ---------------------------------------------------------------------------------

# Constructor -> (position, keyword names) of its seed. Philox may be keyed instead of seeded.
_NUMPY_CONSTRUCTORS: dict[str, tuple[int, tuple[str, ...]]] = {
    "numpy.random.default_rng": (0, ("seed",)),
    "numpy.random.RandomState": (0, ("seed",)),
    "numpy.random.mtrand.RandomState": (0, ("seed",)),
    "numpy.random.SeedSequence": (0, ("entropy",)),
    "numpy.random.bit_generator.SeedSequence": (0, ("entropy",)),
    "numpy.random.PCG64": (0, ("seed",)),
    "numpy.random.PCG64DXSM": (0, ("seed",)),
    "numpy.random.MT19937": (0, ("seed",)),
    "numpy.random.Philox": (0, ("seed", "key")),
    "numpy.random.SFC64": (0, ("seed",)),
}


def _unseeded_numpy_instance(ctx: ModuleContext, call: ast.Call, name: str) -> str | None:
    spec = _NUMPY_CONSTRUCTORS.get(name)
    if spec is None:
        return None
    position, names = spec
    if name.endswith("Philox") and keyword(call, "key") is not None and not is_none(keyword(call, "key")):
        return None
    return _entropy_or_unseeded(ctx, call, _argument(call, position, *names))


def unseeded_numpy_generator(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR104: a NumPy generator, bit generator or SeedSequence built without a seed. A global
    ``np.random.seed`` does not help: new generators ignore it."""
    for site, name in ctx.calls_matching(_NUMPY_CONSTRUCTORS.__contains__):
        call = site.node
        assert isinstance(call, ast.Call)
        why = _unseeded_numpy_instance(ctx, call, name)
        if why:
            yield call, (
                f"`{_spelling(call)}()` with {why} seeds itself from OS entropy (`np.random.seed` does not "
                "reach it); pass a configured seed"
            )


# -- MLR105 ---------------------------------------------------------------------------------

_TORCH_DRAWS = frozenset({
    "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
    "bernoulli", "multinomial", "poisson",
})
# torch.nn.init functions that do not draw anything.
_TORCH_INIT_DETERMINISTIC = frozenset({
    "calculate_gain", "constant_", "ones_", "zeros_", "eye_", "dirac_", "constant", "eye", "dirac",
})
# Modules whose parameters are drawn at construction.
_TORCH_LAYERS = frozenset({
    "Linear", "Bilinear", "LazyLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
    "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "LSTM", "GRU", "RNN",
    "LSTMCell", "GRUCell", "RNNCell", "Embedding", "EmbeddingBag", "MultiheadAttention",
    "Transformer", "TransformerEncoderLayer", "TransformerDecoderLayer",
})
# Modules that draw a fresh mask on every training step.
_TORCH_DROPOUT = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"})
_TORCH_FUNCTIONAL_DROPOUT = frozenset({
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
})
# Data utilities that shuffle with their own generator argument (else torch's global one).
_TORCH_SAMPLERS = frozenset({"RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler"})
_TORCH_DATA = ("torch.utils.data.", "torch.utils.data.sampler.", "torch.utils.data.dataset.", "torch.utils.data.dataloader.")


def _nn_class(name: str) -> str | None:
    """``torch.nn.Linear`` / ``torch.nn.modules.linear.Linear`` -> ``Linear``."""
    if name.startswith("torch.nn.modules."):
        return name.rsplit(".", 1)[-1]
    if name.startswith("torch.nn.") and name.count(".") == 2:
        return name[len("torch.nn."):]
    return None


def _data_utility(name: str) -> str | None:
    for prefix in _TORCH_DATA:
        if name.startswith(prefix) and "." not in name[len(prefix):]:
            return name[len(prefix):]
    return None


def _torch_randomness(call: ast.Call, name: str) -> str | None:
    """What makes this call draw from torch's global generator, or None."""
    if name.startswith("torch.") and name.count(".") == 1 and name[6:] in _TORCH_DRAWS:
        return None if _set(call, None, "generator") else "draws from"
    if name.startswith("torch.nn.init."):
        function = name[len("torch.nn.init."):]
        if "." in function or function.startswith("_") or function in _TORCH_INIT_DETERMINISTIC:
            return None
        return None if _set(call, None, "generator") else "draws its values from"
    if name.startswith("torch.nn.functional."):
        function = name[len("torch.nn.functional."):]
        if function in _TORCH_FUNCTIONAL_DROPOUT and constant(_argument(call, 2, "training")) is not False:
            return "draws its dropout mask from"
        return None
    layer = _nn_class(name)
    if layer in _TORCH_LAYERS:
        return "initialises its weights from"
    if layer in _TORCH_DROPOUT:
        return "draws its dropout mask (in training) from"
    utility = _data_utility(name)
    if utility is None or _set(call, None, "generator"):
        return None
    if utility == "DataLoader":
        shuffle = _argument(call, 2, "shuffle")
        if shuffle is None or constant(shuffle) in (False, None, 0):
            return None
        return "shuffles with"
    if utility in _TORCH_SAMPLERS:
        return "samples with"
    if utility == "random_split":
        return "splits with"
    return None


# Keras ops that, on the torch backend, draw from torch's global generator rather than from
# Keras's seed: unseeded and without ``noise_shape``, dropout takes torch's fast path
# (``torch.nn.functional.dropout``, keras/src/backend/torch/random.py). Keras's other random
# layers draw through ``torch.Generator``s seeded from Keras's seed state (MLR107).
# name -> (position of ``noise_shape``, position of ``seed``)
_KERAS_TORCH_DROPOUT: dict[str, tuple[int, int]] = {"keras.layers.Dropout": (1, 2), "keras.random.dropout": (2, 3)}


def _keras_torch_dropout(call: ast.Call, name: str) -> bool:
    """Does this Keras dropout draw from torch's global generator (on the torch backend)?"""
    spec = _KERAS_TORCH_DROPOUT.get(name)
    if spec is None:
        return False
    noise_shape, seed = spec
    return not _set(call, seed, "seed") and not _set(call, noise_shape, "noise_shape")


def _on_keras_torch(ctx: ModuleContext) -> bool:
    return ctx.imports_any("keras") and keras_backend(ctx) == TORCH_BACKEND


def unseeded_torch(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR105: PyTorch randomness (draws, initialisation, dropout, shuffling) in a file that never
    calls ``torch.manual_seed``; on Keras's torch backend, Keras dropout too."""
    state = seed_state(ctx)
    if state.seeded(TORCH):
        return
    for site, name in ctx.calls_matching(lambda n: n.startswith("torch.")):
        call = site.node
        assert isinstance(call, ast.Call)
        what = _torch_randomness(call, name)
        if what:
            yield call, (
                f"`{_spelling(call)}(...)` {what} torch's global generator, {state.never(TORCH)} "
                "(`torch.manual_seed(...)`)"
            )
    if not _on_keras_torch(ctx):
        return
    for site, name in ctx.calls_matching(_KERAS_TORCH_DROPOUT.__contains__):
        call = site.node
        assert isinstance(call, ast.Call)
        if _keras_torch_dropout(call, name):
            yield call, (
                f"`{_spelling(call)}(...)` without `seed=` draws its dropout mask (in training) from torch's global "
                f"generator on Keras's torch backend, {state.never(TORCH)} "
                "(`keras.utils.set_random_seed(...)` or `torch.manual_seed(...)`)"
            )


# -- MLR106 ---------------------------------------------------------------------------------

_CUDA_CURRENT_DEVICE = frozenset({"torch.cuda.manual_seed", "torch.cuda.random.manual_seed"})


def partial_cuda_seed(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR106: ``torch.cuda.manual_seed`` is the only CUDA seed, and it seeds one device."""
    calls = seed_state(ctx).seeds_of(CUDA)
    if any(call.effective and call.name not in _CUDA_CURRENT_DEVICE for call in calls):
        return
    for call in calls:
        if call.name in _CUDA_CURRENT_DEVICE:
            node = call.site.node
            yield node, (
                f"`{_spelling(node)}(...)` seeds only the current GPU, and the CPU generator and other GPUs "  # type: ignore[arg-type]
                "stay unseeded; use `torch.manual_seed(...)` (all devices) or `torch.cuda.manual_seed_all(...)`"
            )


# -- MLR107 ---------------------------------------------------------------------------------

_KERAS_ROOTS = ("tensorflow.keras.", "tensorflow.compat.v1.keras.", "tf_keras.", "keras.")
_TF_ROOTS = ("tensorflow.compat.v1.", "tensorflow.compat.v2.", "tensorflow.")
# Stateful TF ops (global seed + op counter) -> position of their ``seed`` argument.
_TF_OPS: dict[str, int | None] = {
    "random.uniform": 4, "random.normal": 4, "random.truncated_normal": 4, "random.shuffle": 1,
    "random.categorical": 3, "random.gamma": 4, "random.poisson": 3, "random_uniform": 4,
    "random_normal": 4, "truncated_normal": 4, "random_shuffle": 1, "multinomial": 2,
    "random_gamma": 4, "random_poisson": 3, "nn.dropout": 3, "image.random_flip_left_right": 1,
    "image.random_flip_up_down": 1, "image.random_crop": 2, "image.random_brightness": 2,
    "image.random_contrast": 3, "image.random_hue": 2, "image.random_saturation": 3,
    "image.random_jpeg_quality": 3, "image.sample_distorted_bounding_box": 2,
}
_TF_NON_DETERMINISTIC = frozenset({
    "random.Generator.from_non_deterministic_state", "random.experimental.Generator.from_non_deterministic_state",
})
# Keras layers whose weights are drawn when built.
_KERAS_WEIGHTED = frozenset({
    "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D", "LSTM", "GRU", "SimpleRNN", "Embedding",
    "MultiHeadAttention",
})
# Keras layers that draw at call time -> position of their ``seed`` argument.
_KERAS_RANDOM_LAYERS: dict[str, int | None] = {
    "Dropout": 2, "SpatialDropout1D": None, "SpatialDropout2D": None, "SpatialDropout3D": None,
    "GaussianDropout": 1, "GaussianNoise": 1, "AlphaDropout": 2, "RandomFlip": 1, "RandomRotation": 3,
    "RandomZoom": 4, "RandomCrop": 2, "RandomTranslation": 4, "RandomContrast": 1, "RandomBrightness": 2,
}
_KERAS_INITIALIZERS: dict[str, int] = {
    "RandomNormal": 2, "RandomUniform": 2, "TruncatedNormal": 2, "GlorotUniform": 0, "GlorotNormal": 0,
    "HeNormal": 0, "HeUniform": 0, "LecunNormal": 0, "LecunUniform": 0, "Orthogonal": 1,
    "VarianceScaling": 3, "random_normal": 2, "random_uniform": 2, "truncated_normal": 2,
    "glorot_uniform": 0, "glorot_normal": 0, "he_normal": 0, "he_uniform": 0, "lecun_normal": 0,
    "lecun_uniform": 0, "orthogonal": 1, "variance_scaling": 3,
}
_KERAS_RANDOM_OPS = frozenset({
    "normal", "uniform", "truncated_normal", "categorical", "randint", "shuffle", "dropout", "gamma",
    "binomial", "beta", "SeedGenerator",
})
# ``fit`` keywords only Keras takes, and those that mean the data are arrays (which Keras
# reshuffles every epoch unless ``shuffle=False``; datasets are not reshuffled by ``fit``).
_KERAS_FIT_KEYWORDS = frozenset({
    "epochs", "batch_size", "validation_split", "validation_data", "steps_per_epoch", "initial_epoch",
    "validation_steps", "validation_freq",
})
_ARRAY_FIT_KEYWORDS = frozenset({"y", "batch_size", "validation_split"})
_TF_MODULES = ("tensorflow", "keras", "tf_keras")


def _strip(name: str, roots: tuple[str, ...]) -> str | None:
    for root in roots:
        if name.startswith(root):
            return name[len(root):]
    return None


def _keras_initializer(ctx: ModuleContext, call: ast.Call) -> str | None:
    """``keras.initializers.GlorotUniform(...)`` -> ``GlorotUniform``."""
    name = ctx.call_name(call)
    tail = _strip(name, _KERAS_ROOTS) if name else None
    if tail and tail.startswith("initializers.") and tail[len("initializers."):] in _KERAS_INITIALIZERS:
        return tail[len("initializers."):]
    return None


def _seeded_initializer(ctx: ModuleContext, call: ast.Call) -> bool:
    """``Dense(8, kernel_initializer=GlorotUniform(seed=0))``: the author seeded the weights."""
    for kw in call.keywords:
        if kw.arg and kw.arg.endswith("initializer") and isinstance(kw.value, ast.Call):
            initializer = _keras_initializer(ctx, kw.value)
            position = _KERAS_INITIALIZERS[initializer] if initializer else None
            if _set(kw.value, position, "seed"):
                return True
    return False


def _tf_randomness(ctx: ModuleContext, call: ast.Call, name: str) -> str | None:
    keras = _strip(name, _KERAS_ROOTS)
    if keras is not None:
        group, _, item = keras.partition(".")
        if "." in item:
            return None
        if group == "layers" and item in _KERAS_WEIGHTED:
            return None if _seeded_initializer(ctx, call) or has_kwargs_splat(call) else "initialises its weights from"
        if group == "layers" and item in _KERAS_RANDOM_LAYERS:
            return None if _set(call, _KERAS_RANDOM_LAYERS[item], "seed") else "draws from"
        if group == "initializers" and item in _KERAS_INITIALIZERS:
            return None if _set(call, _KERAS_INITIALIZERS[item], "seed") else "draws from"
        if group == "random" and item in _KERAS_RANDOM_OPS:
            return None if _set(call, None, "seed") else "draws from"
        return None
    tail = _strip(name, _TF_ROOTS)
    if tail in _TF_OPS:
        return None if _set(call, _TF_OPS[tail], "seed") else "draws from"
    return None


def _non_tf_names(ctx: ModuleContext) -> set[str]:
    """Names bound to something we know is not TensorFlow (``rng = np.random.default_rng(0)``), so
    their ``.shuffle`` is not a ``tf.data`` shuffle."""
    names: set[str] = set()
    for site in ctx.sites(ast.Assign):
        node = site.node
        assert isinstance(node, ast.Assign)
        if _resolves_outside_tf(ctx, node.value):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif isinstance(target, ast.Attribute):
                    names.add(target.attr)
    return names


def _outside_tf(name: str | None) -> bool:
    return name is not None and name.split(".", 1)[0] not in _TF_MODULES


def _resolves_outside_tf(ctx: ModuleContext, expr: ast.AST) -> bool:
    return _outside_tf(_receiver(ctx, expr)[0])


def _shuffle_method(ctx: ModuleContext, call: ast.Call, foreign: set[str]) -> bool:
    """``ds.shuffle(1000)`` on anything not known to be a non-TF object, without a seed."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "shuffle" or ctx.qualname(func) is not None:
        return False
    name, root = _receiver(ctx, func.value)
    if _outside_tf(name):
        return False
    if (isinstance(root, ast.Name) and root.id in foreign) or (isinstance(root, ast.Attribute) and root.attr in foreign):
        return False
    return not _set(call, 1, "seed")


def _keras_fit(ctx: ModuleContext, call: ast.Call) -> bool:
    """``model.fit(x, y, epochs=5)``: Keras reshuffles array inputs every epoch by default."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "fit" or has_kwargs_splat(call):
        return False
    if ctx.qualname(func) is not None or _resolves_outside_tf(ctx, func.value):
        return False
    given = {kw.arg for kw in call.keywords}
    shuffle = keyword(call, "shuffle")
    if shuffle is not None:
        return constant(shuffle) not in (False, None, 0)
    return bool(given & _KERAS_FIT_KEYWORDS) and (len(call.args) >= 2 or bool(given & _ARRAY_FIT_KEYWORDS))


@dataclass(frozen=True)
class _GlobalSeed:
    """The global seed a draw depends on: how messages name it, whether this file sets it, and
    what the message says is missing."""

    words: str
    seeded: bool
    missing: str


def _global_seeds(ctx: ModuleContext) -> tuple[_GlobalSeed, _GlobalSeed]:
    """TensorFlow's global seed, and the one Keras's own randomness depends on. On the
    TensorFlow backend they are one; on the torch and JAX backends Keras 3 draws its default
    seeds from Python's ``random`` (``make_default_seed``), which ``keras.utils.set_random_seed``
    seeds, and ``tf.random.set_seed`` does not reach it."""
    state = seed_state(ctx)
    never = state.never(TENSORFLOW).replace("never seeds", "never sets")
    tensorflow = _GlobalSeed(
        "TensorFlow's global seed", state.seeded(TENSORFLOW),
        f"{never} (`tf.random.set_seed(...)` or `keras.utils.set_random_seed(...)`)",
    )
    if keras_backend(ctx) == TENSORFLOW_BACKEND:
        return tensorflow, tensorflow
    never = state.never(PYTHON).replace("never seeds", "never sets")
    keras = _GlobalSeed("Keras's global seed", state.seeded(PYTHON), f"{never} (`keras.utils.set_random_seed(...)`)")
    return tensorflow, keras


def unseeded_tensorflow(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR107: TensorFlow / Keras randomness without a global seed (``tf.random.set_seed``, or
    Keras's on the torch and JAX backends)."""
    if not ctx.imports_any(*_TF_MODULES):
        return
    tensorflow, keras = _global_seeds(ctx)
    keras_torch = _on_keras_torch(ctx)
    # Off the TensorFlow backend a ``.shuffle`` is a ``tf.data`` shuffle only where TensorFlow is imported.
    shuffles = not tensorflow.seeded and (keras is tensorflow or ctx.imports_any("tensorflow", "tf_keras"))
    foreign = _non_tf_names(ctx) if shuffles else set()
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        name = ctx.call_name(call)
        if name is not None and _strip(name, _TF_ROOTS) in _TF_NON_DETERMINISTIC:
            yield call, f"`{_spelling(call)}()` seeds the generator from OS entropy; use `tf.random.Generator.from_seed(seed)`"
            continue
        if name is not None:
            seed = keras if name.startswith("keras.") else tensorflow
            what = None if seed.seeded else _tf_randomness(ctx, call, name)
            if what and not (keras_torch and _keras_torch_dropout(call, name)):  # MLR105's: torch's generator
                yield call, f"`{_spelling(call)}(...)` {what} {seed.words}, {seed.missing}"
        elif shuffles and _shuffle_method(ctx, call, foreign):
            yield _method_anchor(call), (
                f"`{_spelling(call)}(...)` without `seed=` shuffles from TensorFlow's global seed, {tensorflow.missing}"
            )
        elif not keras.seeded and _keras_fit(ctx, call):
            yield _method_anchor(call), (
                f"`{_spelling(call)}(...)` reshuffles the training data every epoch (`shuffle=True` is the "
                f"default) from {keras.words}, {keras.missing}"
            )


# -- MLR108 ---------------------------------------------------------------------------------

_JAX_KEYS = frozenset({"jax.random.PRNGKey", "jax.random.key"})


def _unreproducible_draw(ctx: ModuleContext, expr: ast.AST) -> str | None:
    """The first thing in ``expr`` that differs between runs: OS entropy or a draw from a
    generator this file never seeds."""
    source = entropy_source(ctx, expr)
    if source:
        return f"`{source}()`"
    state = seed_state(ctx)
    for node in ast.walk(expr):
        if not isinstance(node, ast.Call):
            continue
        name = ctx.call_name(node)
        if name is None:
            continue
        if name.startswith("random.") and name[7:] in PYTHON_RANDOM_FUNCTIONS and not state.seeded(PYTHON):
            return f"`{name}()` from the unseeded global generator"
        if _numpy_global_draw(name) and not state.seeded(NUMPY):
            return f"`{name}()` from the unseeded global generator"
        if name.startswith("torch.") and name[6:] in _TORCH_DRAWS and not state.seeded(TORCH) and not _set(node, None, "generator"):
            return f"`{name}()` from the unseeded global generator"
        if name in _PYTHON_INSTANCES and _entropy_or_unseeded(ctx, node, _argument(node, 0, "x")):
            return f"an unseeded `{name}()`"
        if _unseeded_numpy_instance(ctx, node, name):
            return f"an unseeded `{name}()`"
    return None


def jax_key_from_entropy(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR108: a JAX key made from a value that changes every run."""
    for site, name in ctx.calls_matching(_JAX_KEYS.__contains__):
        call = site.node
        assert isinstance(call, ast.Call)
        seed = _argument(call, 0, "seed")
        why = _unreproducible_draw(ctx, seed) if seed is not None else None
        if why:
            yield call, f"`{_spelling(call)}(...)` is made from {why}, a different key every run; use a configured seed"


# -- MLR113 ---------------------------------------------------------------------------------


def conditional_seed(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR113: seeding that only happens when a seed is given, and none is by default.

    Reported where the guard bites: at the seeding call when it is under the ``if`` itself, and
    at each guarded call of a local seeding helper otherwise (one finding per guarded call, not
    one per generator the helper seeds).
    """
    state = seed_state(ctx)
    always: set[str] = set()
    for call in state.calls:
        if call.effective and not call.conditional:
            always |= call.generators
    reported: set[int] = set()
    for call in state.calls:
        if not call.conditional or not call.effective or call.generators - {KERAS_BACKEND_SEED} <= always:
            continue
        for guard in call.guards:
            node = guard.node
            if id(node) in reported:
                continue
            reported.add(id(node))
            if call.fallback is not None:
                yield node, (
                    f"`{_spelling(node)}(...)` draws a random seed when `{ast.unparse(call.fallback)}` is None, and "  # type: ignore[arg-type]
                    "the seed has no default here, so a run that is given no seed is unseeded; give the seed a default value"
                )
                continue
            if call.inherited:
                yield node, (
                    f"`{_spelling(node)}(...)` seeds only behind a seed check of its own, and the seed has no "  # type: ignore[arg-type]
                    "default here, so a run that is given no seed is unseeded; give the seed a default value"
                )
                continue
            test = guard_test(guard)
            condition = f"`if {ast.unparse(test)}:`" if test is not None else "a seed check"
            yield node, (
                f"`{_spelling(node)}(...)` runs only under {condition} and the seed has no default, "  # type: ignore[arg-type]
                "so a run that is given no seed is unseeded; give the seed a default value"
            )


# -- MLR114 ---------------------------------------------------------------------------------


def seed_from_entropy(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR114: a seeding call whose seed is different every run (none, ``None``, or the clock)."""
    for call in seed_state(ctx).calls:
        if not call.entropy:
            continue
        node = call.site.node
        assert isinstance(node, ast.Call)
        argument = node.args[0] if node.args else None
        source = entropy_source(ctx, node) if node.args or node.keywords else None
        if source:
            why = f"seeds from `{source}()`, a different value every run"
        elif call.name in ENTROPY_SEEDERS:
            why = "reseeds from OS entropy by design"
        elif argument is None or is_none(argument):
            why = "without a seed (or with `None`) reseeds from OS entropy"
        else:
            why = "seeds from OS entropy"
        shown = f"{_spelling(node)}(...)" if node.args or node.keywords else f"{_spelling(node)}()"
        yield node, f"`{shown}` {why}; seed from a configured value instead"
