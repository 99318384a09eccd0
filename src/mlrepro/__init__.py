"""mlrepro: make unreproducible machine-learning runs impossible to miss."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Resolved on first use: `import mlrepro` (and so `mlrepro lint`) stays free of NumPy and MLflow.
_LAZY = {
    "seed_everything": "mlrepro.capture.seeding",
    "tracked_run": "mlrepro.capture.guarded",
    "TrackedRun": "mlrepro.capture.guarded",
    "PolicyError": "mlrepro.capture.guarded",
}

__all__ = ["PolicyError", "TrackedRun", "__version__", "seed_everything", "tracked_run"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'mlrepro' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
