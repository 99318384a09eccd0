"""Seeds (MLR109-MLR112): ML libraries that take their seed as an argument, and don't get one.

scikit-learn, XGBoost, LightGBM, CatBoost, pandas and PyTorch's ``DataLoader`` do not (only)
read a global generator: each call carries its own ``random_state`` / ``seed`` /
``generator``. Seeding the global generators does not (reliably) fix those calls, so these
rules look at the arguments of each call instead of at the module's seed state.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from mlrepro.lint.context import NOT_CONSTANT, ModuleContext, Site, constant, has_kwargs_splat, is_none, keyword, narrow_interest
from mlrepro.lint.seeding import NUMPY, TORCH, seed_state

Hit = tuple[ast.AST, str]

# -- MLR109: scikit-learn ------------------------------------------------------------------

# Every call to one of these is random, whatever its other arguments.
SKLEARN_RANDOM = frozenset({
    # model_selection
    "train_test_split", "ShuffleSplit", "StratifiedShuffleSplit", "GroupShuffleSplit",
    "RepeatedKFold", "RepeatedStratifiedKFold", "RandomizedSearchCV", "HalvingRandomSearchCV",
    "permutation_importance",
    # ensemble / tree
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
    "GradientBoostingClassifier", "GradientBoostingRegressor", "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor",
    "ExtraTreeClassifier", "ExtraTreeRegressor", "BaggingClassifier", "BaggingRegressor",
    "AdaBoostClassifier", "AdaBoostRegressor", "IsolationForest", "RandomTreesEmbedding",
    # clustering / mixtures / decomposition / manifold
    "KMeans", "MiniBatchKMeans", "BisectingKMeans", "SpectralClustering", "GaussianMixture",
    "BayesianGaussianMixture", "TruncatedSVD", "NMF", "FastICA", "LatentDirichletAllocation",
    "MiniBatchDictionaryLearning", "TSNE",
    # linear models / neural networks
    "SGDClassifier", "SGDRegressor", "Perceptron", "PassiveAggressiveClassifier",
    "PassiveAggressiveRegressor", "MLPClassifier", "MLPRegressor",
    # datasets / utils
    "make_classification", "make_regression", "make_blobs", "resample", "shuffle",
})


def _argument(call: ast.Call, name: str, index: int | None = None) -> ast.expr | None:
    """The argument passed as ``name=`` or, for APIs that once took it positionally, at ``index``."""
    value = keyword(call, name)
    if value is None and index is not None and index < len(call.args):
        value = call.args[index]
    return value


def _shuffles(call: ast.Call) -> bool:
    # Only a literal True: with shuffle off, sklearn rejects a random_state, so a computed
    # ``shuffle=`` may legitimately come without one.
    return constant(_argument(call, "shuffle", 1)) is True


def _randomized_pca(call: ast.Call) -> bool:
    return constant(keyword(call, "svd_solver")) == "randomized"


def _stochastic_solver(call: ast.Call) -> bool:
    return constant(keyword(call, "solver")) in {"sag", "saga", "liblinear"}


def _svc_probability(call: ast.Call) -> bool:
    # Platt scaling runs an internal cross-validation whose folds are drawn at random.
    return constant(keyword(call, "probability")) is True


def _linear_svc_dual(call: ast.Call) -> bool:
    # The primal solver (dual=False) is deterministic; only the dual coordinate descent shuffles.
    return constant(keyword(call, "dual")) is not False


def _noisy_or_shuffled(call: ast.Call) -> bool:
    # make_moons/make_circles are a fixed grid unless they shuffle (the default) or add noise.
    noise = keyword(call, "noise")
    return constant(keyword(call, "shuffle")) is not False or (noise is not None and not is_none(noise))


SKLEARN_RANDOM_WHEN: dict[str, Callable[[ast.Call], bool]] = {
    "KFold": _shuffles,
    "StratifiedKFold": _shuffles,
    "GroupKFold": _shuffles,
    "PCA": _randomized_pca,
    "LogisticRegression": _stochastic_solver,
    "SVC": _svc_probability,
    "LinearSVC": _linear_svc_dual,
    "make_moons": _noisy_or_shuffled,
    "make_circles": _noisy_or_shuffled,
}

def _label(short: str, call: ast.Call) -> str:
    """``KFold(shuffle=True)``: the call, with the argument that made it random when there is one."""
    for name in ("shuffle", "svd_solver", "solver", "probability", "noise"):
        value = keyword(call, name)
        if value is not None and short in SKLEARN_RANDOM_WHEN and not is_none(value):
            return f"{short}({name}={ast.unparse(value)})"
    return f"{short}()"


# The old (< 0.24) positional signature ``KFold(n_splits, shuffle, random_state)``.
# Only these scikit-learn names can be random: the rest of sklearn need not be walked.
narrow_interest("sklearn", SKLEARN_RANDOM | set(SKLEARN_RANDOM_WHEN))

_POSITIONAL_RANDOM_STATE = {"KFold": 2, "StratifiedKFold": 2, "GroupKFold": 2}


def missing_random_state(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR109: a scikit-learn estimator, splitter or generator that is random gets no ``random_state``."""
    # Without one, scikit-learn draws from NumPy's global generator: say whether this file seeds it.
    state = seed_state(ctx)
    draws = (
        "so it depends on every draw from NumPy's global generator before it"
        if state.seeded(NUMPY) else f"so it draws from NumPy's global generator, {state.never(NUMPY)}"
    )
    for site, name in ctx.calls_matching(lambda n: n.startswith("sklearn.")):
        call = site.node
        assert isinstance(call, ast.Call)
        short = name.rsplit(".", 1)[-1]
        condition = SKLEARN_RANDOM_WHEN.get(short)
        if short not in SKLEARN_RANDOM and (condition is None or not condition(call)):
            continue
        if has_kwargs_splat(call):
            continue
        value = _argument(call, "random_state", _POSITIONAL_RANDOM_STATE.get(short))
        if value is None:
            yield call, f"`{_label(short, call)}` is random but gets no `random_state`, {draws}: pass `random_state=<seed>`"
        elif is_none(value):
            yield call, f"`{short}(random_state=None)` is random, {draws}: pass `random_state=<seed>`"


# -- MLR110: gradient-boosting libraries ----------------------------------------------------

_XGB_SEEDS = frozenset({"seed", "random_state"})
_LGBM_SEEDS = frozenset({
    "seed", "random_seed", "random_state", "bagging_seed", "feature_fraction_seed", "data_random_seed",
})
_CATBOOST_SEEDS = frozenset({"random_seed", "random_state"})

# (qualified-name prefix, estimator class names, keyword arguments that seed it)
BOOSTING_ESTIMATORS: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    ("xgboost.", frozenset({"XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}),
     _XGB_SEEDS),
    ("lightgbm.", frozenset({"LGBMClassifier", "LGBMRegressor", "LGBMRanker"}), _LGBM_SEEDS),
    ("catboost.", frozenset({"CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker"}), _CATBOOST_SEEDS),
)

# Functional training APIs whose first argument (or ``params=``) is the parameter dict.
BOOSTING_TRAIN: dict[str, frozenset[str]] = {
    "xgboost.train": _XGB_SEEDS,
    "xgboost.training.train": _XGB_SEEDS,
    "lightgbm.train": _LGBM_SEEDS,
    "lightgbm.engine.train": _LGBM_SEEDS,
}


def _literal_items(expr: ast.AST) -> dict[str, ast.expr] | None:
    """The items of ``{"a": 1}`` / ``dict(a=1)``; None when they cannot all be read statically."""
    if isinstance(expr, ast.Dict):
        keys = [constant(k) if k is not None else None for k in expr.keys]
        if all(isinstance(k, str) for k in keys):
            return dict(zip(keys, expr.values))  # type: ignore[arg-type]
        return None
    if (
        isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict"
        and not expr.args and not has_kwargs_splat(expr)
    ):
        return {kw.arg: kw.value for kw in expr.keywords if kw.arg is not None}
    return None


def _bound_names(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id


def _touches(node: ast.AST, name: str) -> bool | None:
    """True when ``node`` rebinds or mutates ``name`` in a way we cannot follow; None if unrelated."""
    if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr)):
        return name in _bound_names(node.target)
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return any(item.optional_vars is not None and name in _bound_names(item.optional_vars) for item in node.items)
    if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return isinstance(node.value, ast.Name) and node.value.id == name
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        # ``params.update(seed=1)``, ``params.setdefault("seed", 1)``
        owner = node.func.value
        return isinstance(owner, ast.Name) and owner.id == name and node.func.attr in {"update", "setdefault"}
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return name in node.names
    return None


def _assigned_items(scope: ast.AST, name: str) -> tuple[bool, dict[str, ast.expr] | None]:
    """(is ``name`` bound in ``scope``?, the items of its one dict-literal binding, if that is all there is)."""
    assigned: list[ast.expr] = []
    opaque = False
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = scope.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        opaque = any(a is not None and a.arg == name for a in every)
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            if any(name in _bound_names(t) for t in node.targets):
                simple = all(isinstance(t, ast.Name) for t in node.targets)
                if simple:
                    assigned.append(node.value)
                else:
                    opaque = True
        elif _touches(node, name):
            opaque = True
    if not assigned and not opaque:
        return False, None
    if opaque or len(assigned) != 1:
        return True, None
    return True, _literal_items(assigned[0])


def _params_items(ctx: ModuleContext, site: Site, expr: ast.AST) -> dict[str, ast.expr] | None:
    """The items of the params dict passed to a ``train()`` call, or None when unknown."""
    if not isinstance(expr, ast.Name):
        return _literal_items(expr)
    # ``params = {...}`` sits on a line the pruned walk skips (nothing on it is interesting
    # unless it mentions a seed), so read the enclosing scope's statements directly. This
    # happens only for the rare ``xgboost.train(params, ...)`` call, not per file.
    scopes: list[ast.AST] = [s for s in (site.function,) if s is not None] + [ctx.tree]
    for scope in scopes:
        bound, items = _assigned_items(scope, expr.id)
        if bound:
            return items
    return None


# Each library draws only when a sampling option is on; otherwise training is deterministic
# (XGBoost: subsample and colsample_* default to 1; LightGBM: bagging is off and
# feature_fraction is 1; CatBoost samples by default but from a fixed default seed, 0, so the
# rule asks for a seed only once the code configures sampling itself). A non-literal value
# (``subsample=args.subsample``) counts as on: the option is there to be turned.
_XGB_FRACTIONS = ("subsample", "colsample_bytree", "colsample_bylevel", "colsample_bynode")
_LGBM_BAGGING = ("bagging_fraction", "subsample", "sub_row", "bagging")
_LGBM_BAGGING_FREQ = ("bagging_freq", "subsample_freq")
_LGBM_FRACTIONS = ("feature_fraction", "colsample_bytree", "sub_feature", "feature_fraction_bynode")
_LGBM_BOOSTING = ("boosting", "boosting_type", "boost", "data_sample_strategy")
_LGBM_RANDOM_BOOSTING = frozenset({"rf", "random_forest", "goss", "dart"})
_CATBOOST_FRACTIONS = ("subsample", "rsm", "colsample_bylevel")
_CATBOOST_AMOUNTS = ("random_strength", "bagging_temperature")


def _below_one(value: ast.expr) -> bool:
    literal = constant(value)
    if literal is NOT_CONSTANT:
        return not is_none(value)
    return isinstance(literal, (int, float)) and not isinstance(literal, bool) and literal < 1


def _positive(value: ast.expr) -> bool:
    literal = constant(value)
    if literal is NOT_CONSTANT:
        return not is_none(value)
    return isinstance(literal, (int, float)) and literal > 0


def _shown(name: str, value: ast.expr) -> str:
    return f"{name}={ast.unparse(value)}"


def _sampling_option(library: str, short: str, items: dict[str, ast.expr]) -> str | None:
    """The option that makes this model draw random numbers (for the message), or None when
    training is deterministic."""
    if library == "xgboost":
        if short.startswith("XGBRF"):
            return f"`{short}` (a random forest: subsample and colsample_bynode default to 0.8)"
        for name in _XGB_FRACTIONS:
            if name in items and _below_one(items[name]):
                return _shown(name, items[name])
        booster, rate = items.get("booster"), items.get("rate_drop")
        if booster is not None and constant(booster) == "dart" and rate is not None and _positive(rate):
            return _shown("rate_drop", rate)
        return None
    if library == "lightgbm":
        for name in _LGBM_BOOSTING:
            value = items.get(name)
            if value is not None and constant(value) in _LGBM_RANDOM_BOOSTING:
                return _shown(name, value)
        freq = next((items[n] for n in _LGBM_BAGGING_FREQ if n in items), None)
        for name in _LGBM_BAGGING:
            if name in items and _below_one(items[name]) and freq is not None and _positive(freq):
                return _shown(name, items[name])
        for name in _LGBM_FRACTIONS:
            if name in items and _below_one(items[name]):
                return _shown(name, items[name])
        extra = items.get("extra_trees")
        if extra is not None and constant(extra) not in (False, None, 0):
            return _shown("extra_trees", extra)
        return None
    for name in _CATBOOST_FRACTIONS:
        if name in items and _below_one(items[name]):
            return _shown(name, items[name])
    for name in _CATBOOST_AMOUNTS:
        if name in items and _positive(items[name]):
            return _shown(name, items[name])
    bootstrap = items.get("bootstrap_type")
    if bootstrap is not None and constant(bootstrap) != "No":
        return _shown("bootstrap_type", bootstrap)
    return None


def unseeded_gradient_boosting(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR110: XGBoost / LightGBM / CatBoost models and ``train()`` calls that sample rows or
    columns (a sampling option is on) with no explicit seed."""
    if not ctx.imports_any("xgboost", "lightgbm", "catboost"):
        return
    for site, name in ctx.calls_matching(lambda n: n.startswith(("xgboost.", "lightgbm.", "catboost."))):
        call = site.node
        assert isinstance(call, ast.Call)
        if has_kwargs_splat(call):
            continue
        short = name.rsplit(".", 1)[-1]
        library = name.split(".", 1)[0]
        for prefix, classes, seeds in BOOSTING_ESTIMATORS:
            if name.startswith(prefix) and short in classes:
                given = [keyword(call, s) for s in sorted(seeds)]
                if not all(v is None or is_none(v) for v in given):
                    continue
                option = _sampling_option(library, short, {kw.arg: kw.value for kw in call.keywords if kw.arg})
                if option is None:
                    continue
                argument = "random_seed" if prefix == "catboost." else "random_state"
                yield call, (
                    f"`{short}()` samples ({option}) with the library's default seed: pass `{argument}=<seed>` "
                    f"so the sample is chosen on purpose and the seed is logged with the run"
                )
        seeds = BOOSTING_TRAIN.get(name)
        if seeds is None:
            continue
        params = _argument(call, "params", 0)
        if params is None:
            continue
        items = _params_items(ctx, site, params)
        if items is None or set(items) & seeds:
            continue
        option = _sampling_option(library, "train", items)
        if option is not None:
            yield call, (
                f"`{library}.train()` samples ({option}) but its params dict has no seed: add `\"seed\": <seed>` "
                f"so the sample is chosen on purpose and the seed is logged with the run"
            )


# -- MLR111: pandas .sample() ---------------------------------------------------------------

# Keyword arguments of other libraries' ``.sample()`` (Python's ``random.Random.sample``,
# ``torch.distributions``) that pandas does not have.
_NOT_PANDAS_KEYWORDS = frozenset({"k", "counts", "sample_shape", "seed"})


def unseeded_pandas_sample(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR111: ``df.sample(...)`` without ``random_state`` in a file that uses pandas."""
    if not ctx.imports_any("pandas"):
        return
    for site in ctx.calls:
        call = site.node
        assert isinstance(call, ast.Call)
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr != "sample":
            continue
        # ``random.sample`` (MLR101), ``np.random.sample``, ``torch.distributions...``: a
        # module function, not a DataFrame method.
        resolved = ctx.qualname(func)
        if resolved is not None and not resolved.startswith("pandas."):
            continue
        receiver = func.value
        if isinstance(receiver, ast.Call):
            made_by = ctx.call_name(receiver)
            if made_by is not None and not made_by.startswith("pandas."):
                continue
        if has_kwargs_splat(call) or len(call.args) >= 2:
            continue  # ``rng.sample(population, k)`` is Python's random.Random
        if any(kw.arg in _NOT_PANDAS_KEYWORDS for kw in call.keywords):
            continue
        value = keyword(call, "random_state")
        shuffle = constant(keyword(call, "frac")) == 1
        what = "`.sample(frac=1)` shuffles rows" if shuffle else "`.sample()` picks rows"
        if value is None:
            yield _method_span(call, func), f"{what} differently every run: pass `random_state=<seed>`"
        elif is_none(value):
            yield _method_span(call, func), (
                f"{what} from NumPy's global generator (`random_state=None`): pass `random_state=<seed>`"
            )


def _method_span(call: ast.Call, func: ast.Attribute) -> ast.AST:
    """From the method name to the closing parenthesis: in a chain split over lines
    (``df[...]\\n.sample(frac=1)``) the finding, and its ``# noqa``, belong to the ``.sample`` line."""
    span = ast.Name(id=func.attr, ctx=ast.Load())
    # The attribute name is one token, so it ends where ``func`` ends.
    span.lineno = func.end_lineno  # type: ignore[assignment]
    span.col_offset = func.end_col_offset - len(func.attr)  # type: ignore[operator]
    span.end_lineno = call.end_lineno
    span.end_col_offset = call.end_col_offset
    return span


# -- MLR112: DataLoader workers ---------------------------------------------------------------

DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})

# Positions in ``DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers,
# collate_fn, pin_memory, drop_last, timeout, worker_init_fn, multiprocessing_context, generator)``.
_LOADER_POSITIONS = {
    "shuffle": 2, "sampler": 3, "batch_sampler": 4, "num_workers": 5, "worker_init_fn": 10, "generator": 12,
}

_TORCHVISION_TRANSFORMS = re.compile(r"\btorchvision\s*\.\s*transforms\b")


def _loader_argument(call: ast.Call, name: str) -> ast.expr | None:
    value = _argument(call, name, _LOADER_POSITIONS[name])
    return None if is_none(value) else value


def _random_augmentation(ctx: ModuleContext) -> bool:
    cached = ctx.memo.get("mlr112_augments")
    if isinstance(cached, bool):
        return cached
    found = (
        ctx.imports_any("torchvision.transforms", "albumentations", "random", "numpy.random")
        or (ctx.imports_any("torchvision") and _TORCHVISION_TRANSFORMS.search(ctx.source) is not None)
        or any(True for _ in ctx.calls_matching(lambda n: n.startswith("numpy.random.")))
    )
    ctx.memo["mlr112_augments"] = found
    return found


_RANDOM_SAMPLERS = ("RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler")
_SHUFFLING_SAMPLERS = ("DistributedSampler",)  # shuffle=True by default


def _random_sampler(ctx: ModuleContext, site: Site, expr: ast.expr) -> bool:
    """A sampler that draws: built inline or bound to a name in this module (a sampler we
    cannot see may well be sequential, so it does not count)."""
    if isinstance(expr, ast.Name):
        for scope in [s for s in (site.function,) if s is not None] + [ctx.tree]:
            bound, _ = _assigned_items(scope, expr.id)
            if bound:
                values = [
                    node.value for node in ast.walk(scope) if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets)
                ]
                return any(_random_sampler(ctx, site, v) for v in values if not isinstance(v, ast.Name))
        return False
    if not isinstance(expr, ast.Call):
        return False
    name = ctx.call_name(expr)
    short = (name or "").rsplit(".", 1)[-1] if name else (expr.func.id if isinstance(expr.func, ast.Name) else "")
    if short.endswith(_RANDOM_SAMPLERS):
        return True
    if short in _SHUFFLING_SAMPLERS:
        return constant(keyword(expr, "shuffle")) not in (False, 0)
    if short == "BatchSampler" and expr.args:
        return _random_sampler(ctx, site, expr.args[0])
    return False


def dataloader_workers_unseeded(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR112: a multi-worker ``DataLoader`` that shuffles or augments at random, in a file that
    leaves torch's global generator unseeded, with no worker seeding. PyTorch seeds each worker's
    torch, ``random`` and NumPy from a base seed drawn from that generator, so a seeded torch
    (or ``generator=`` / ``worker_init_fn=``) makes the workers reproducible."""
    state = seed_state(ctx)
    if state.seeded(TORCH):
        return
    never = state.never(TORCH)
    for site, _ in ctx.calls_matching(lambda n: n in DATALOADERS):
        call = site.node
        assert isinstance(call, ast.Call)
        if has_kwargs_splat(call):
            continue
        workers = _loader_argument(call, "num_workers")
        if workers is None:
            continue  # the default, 0: everything loads in the main process
        count = constant(workers)
        if isinstance(count, (int, float)) and count <= 0:
            continue  # a computed count (``args.workers``) may well be positive
        if _loader_argument(call, "worker_init_fn") is not None or _loader_argument(call, "generator") is not None:
            continue
        shuffle = _loader_argument(call, "shuffle")
        sampler = _loader_argument(call, "sampler") or _loader_argument(call, "batch_sampler")
        if shuffle is not None and constant(shuffle) is not False:
            reason = "and shuffling"
        elif sampler is not None and _random_sampler(ctx, site, sampler):
            reason = "and a random sampler"
        elif _random_augmentation(ctx):
            reason = "in a file with random augmentation"
        else:
            continue
        yield call, (
            f"`DataLoader` with worker processes {reason} gets neither `generator=` nor `worker_init_fn=`, and "
            f"torch's global generator, {never}, cannot seed its workers: call `torch.manual_seed(seed)` (PyTorch "
            f"then seeds each worker) or pass `generator=torch.Generator().manual_seed(seed)`"
        )
