"""``seed_everything``: one call that seeds every random generator the process can use.

Which frameworks get seeded: those that are importable. A framework that is not installed is
never imported (``importlib.util.find_spec`` answers without importing); one that is installed
is imported and seeded even if the training script has not imported it yet, because it may
import it later (a data loader, a callback) and its global generator would then start from
OS entropy. Importing an installed TensorFlow costs seconds: that is the price of a promise
called "everything".

What cannot be seeded from inside a running process: Python's own hash seed (``str`` hashes,
hence the iteration order of sets of strings) is fixed when the interpreter starts. Setting
``PYTHONHASHSEED`` here fixes it for child processes (data-loader workers, ``subprocess``
calls) only; to fix it for the training process itself, launch it with ``PYTHONHASHSEED``
set (the capture plugin records the value in effect as ``mlrepro.pythonhashseed``).

JAX keeps no global generator: every random call takes a key. ``seed_everything`` returns
``jax.random.key(seed)`` as ``result["jax_key"]`` when JAX is installed; pass it on.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys
import warnings
from typing import Any

# Read by the capture plugin (tag ``mlrepro.seed``) when a run starts after the seeding.
SEED_ENV = "MLREPRO_SEED"
# Python accepts PYTHONHASHSEED in [0, 4294967295]; NumPy's legacy seed in [0, 2**32 - 1].
_MAX_SEED = 2**32 - 1
# cuBLAS reproducibility on CUDA >= 10.2 needs a fixed workspace (NVIDIA's documented value).
_CUBLAS_WORKSPACE = ":4096:8"


class SeedingWarning(UserWarning):
    """An installed framework could not be seeded, or the seed could not be logged."""


def _installed(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _seed_numpy(seed: int, deterministic: bool) -> None:
    import numpy as np

    np.random.seed(seed)


def _seed_torch(seed: int, deterministic: bool) -> None:
    import torch

    # Seeds the CPU generator and every CUDA device (lazily, so no GPU is initialised here).
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        # The autotuner picks kernels by timing, so the choice differs between runs.
        torch.backends.cudnn.benchmark = False


def _seed_tensorflow(seed: int, deterministic: bool) -> None:
    import tensorflow as tf

    tf.random.set_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _jax_key(seed: int) -> Any:
    import jax

    # `jax.random.key` (typed keys) arrived in JAX 0.4.16; older versions only have PRNGKey.
    make = getattr(jax.random, "key", None) or jax.random.PRNGKey
    return make(seed)


# Seeded in this order; the module names are what the result lists under "seeded".
_FRAMEWORKS = (("numpy", _seed_numpy), ("torch", _seed_torch), ("tensorflow", _seed_tensorflow))


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be between 0 and {_MAX_SEED} (NumPy's and PYTHONHASHSEED's range), got {seed}")
    return seed


def seed_everything(seed: int, deterministic: bool = False) -> dict[str, Any]:
    """Seed Python's ``random``, NumPy's global generator, PyTorch (CPU and CUDA) and
    TensorFlow when installed; set ``PYTHONHASHSEED`` for child processes and
    ``MLREPRO_SEED`` for the capture plugin. ``deterministic=True`` also asks PyTorch and
    TensorFlow for deterministic kernels (slower; PyTorch then raises on operations that
    have no deterministic implementation).

    Returns what was done, e.g. ``{"seed": 7, "seeded": ["random", "numpy"],
    "deterministic": False, "pythonhashseed": "7"}``, plus ``"jax_key"`` when JAX is
    installed and ``"failed"`` (framework -> error) when an installed framework could not be
    seeded (also reported as a ``SeedingWarning``). When MLflow is already imported and a run
    is active, the result is also recorded on it as tags ``mlrepro.seed``,
    ``mlrepro.seeded`` and ``mlrepro.deterministic``.
    """
    seed = check_seed(seed)
    if deterministic:
        # Before any framework import: CUDA reads the first when cuBLAS starts, TensorFlow
        # (< 2.9 only honours this one) the second at import. Child processes inherit both.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_WORKSPACE)
        os.environ["TF_DETERMINISTIC_OPS"] = "1"
    random.seed(seed)
    seeded = ["random"]
    failed: dict[str, str] = {}
    for name, seeder in _FRAMEWORKS:
        if not _installed(name):
            continue
        try:
            seeder(seed, deterministic)
        except Exception as exc:  # a broken install must not stop a training that may not use it
            failed[name] = f"{type(exc).__name__}: {exc}"
        else:
            seeded.append(name)

    result: dict[str, Any] = {"seed": seed, "seeded": seeded, "deterministic": deterministic}
    if _installed("jax"):
        try:
            result["jax_key"] = _jax_key(seed)
            seeded.append("jax")
        except Exception as exc:
            failed["jax"] = f"{type(exc).__name__}: {exc}"

    # An explicit PYTHONHASHSEED is already reproducible: keep the user's choice. Python reads
    # an empty value as unset.
    if os.environ.get("PYTHONHASHSEED", "").strip() in ("", "random"):
        os.environ["PYTHONHASHSEED"] = str(seed)
    result["pythonhashseed"] = os.environ["PYTHONHASHSEED"]
    os.environ[SEED_ENV] = str(seed)

    if failed:
        result["failed"] = failed
        details = "; ".join(f"{name}: {error}" for name, error in failed.items())
        warnings.warn(f"seed_everything could not seed {details}", SeedingWarning, stacklevel=2)
    _record_on_active_run(result)
    return result


def _record_on_active_run(result: dict[str, Any]) -> None:
    """Tags, not params: MLflow params cannot change once logged, and the script may log its
    own ``seed`` param. ``mlrepro.seed`` is a seed the audit (MLR506) accepts."""
    mlflow = sys.modules.get("mlflow")  # never import MLflow (2-3 s) just to ask
    if mlflow is None:
        return
    try:
        run = mlflow.active_run()
        if run is None:
            return
        mlflow.set_tags({
            "mlrepro.seed": str(result["seed"]),
            "mlrepro.seeded": ",".join(result["seeded"]),
            "mlrepro.deterministic": str(result["deterministic"]).lower(),
        })
    except Exception as exc:
        warnings.warn(f"seed_everything could not record the seed on the active MLflow run: {exc}", SeedingWarning, stacklevel=3)
