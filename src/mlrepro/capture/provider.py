"""The MLflow run-context plugin: installing mlrepro makes every ``mlflow.start_run`` record
the ``mlrepro.*`` tags (see ``collect.py``). Registered under the entry point group
``mlflow.run_context_provider``; switched off with ``MLREPRO_CAPTURE=0``.

What MLflow allows a provider, and what that means here:
- MLflow imports this module and instantiates the class while importing
  ``mlflow.tracking.context.registry``, so this module imports nothing heavy (``collect``
  is imported at the first run start), and an import error other than
  ImportError/AttributeError would break ``import mlflow`` itself.
- ``tags()`` runs before the run exists: it can only contribute tags (no artifacts), each
  value at most 8,000 characters.
- MLflow catches an exception from a provider, logs it and drops all of that provider's
  tags; ``tags()`` therefore never raises, and turns any failure into a
  ``mlrepro.capture_error`` tag (visible on the run, which the audit can read) plus a warning.
- MLflow asks for tags only for runs the fluent ``mlflow.start_run`` creates (and autolog's
  children), not for a run it resumes: a process started with ``MLFLOW_RUN_ID`` (by ``mlflow
  run``, or by ``mlrepro reproduce``) is captured by ``resumed.py`` when MLflow instantiates
  the provider. Runs made by ``MlflowClient.create_run`` alone get no tags.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

from mlrepro import tags as tag_names

CAPTURE_ENV = "MLREPRO_CAPTURE"
ERROR_TAG = tag_names.CAPTURE_ERROR
_OFF = frozenset({"0", "false", "no", "off"})


class _Capture:
    """What the provider does; ``MlreproRunContext`` adds MLflow's base class to it."""

    def __init__(self) -> None:
        # MLflow instantiates the provider once per process, while ``import mlflow`` runs.
        if self.in_context():
            from mlrepro.capture.resumed import capture_resumed_run

            try:
                capture_resumed_run(self.tags)
            except Exception as exc:  # an exception here would break `import mlflow` itself
                _warn(f"mlrepro could not start capturing the resumed run: {type(exc).__name__}: {exc}", UserWarning)

    def in_context(self) -> bool:
        return os.environ.get(CAPTURE_ENV, "1").strip().lower() not in _OFF

    def tags(self) -> dict[str, str]:
        try:
            from mlrepro.capture.collect import CaptureWarning, collect_tags

            tags = collect_tags()
        except Exception as exc:  # a training run must start whatever happens here
            from mlrepro.redaction import redact

            message = redact(f"{type(exc).__name__}: {exc}")[:8000]
            _warn(f"mlrepro could not capture the run context: {message}", UserWarning)
            return {ERROR_TAG: message}
        if ERROR_TAG in tags:
            _warn(f"mlrepro captured the run context only in part: {tags[ERROR_TAG]}", CaptureWarning)
        return tags


def _warn(message: str, category: type[Warning]) -> None:
    try:
        warnings.warn(message, category, stacklevel=4)
    except Exception:
        pass  # `-W error` turns the warning into an exception; the tag already says it


# The class is built on first access (PEP 562) rather than at import: importing MLflow's base
# class imports MLflow, whose registry loads this entry point. Were this module importing
# MLflow at its top, `import mlrepro.capture.provider` before `import mlflow` would hand the
# registry a half-initialised module and the provider would silently not be registered.
if TYPE_CHECKING:
    from mlflow.tracking.context.abstract_context import RunContextProvider

    class MlreproRunContext(_Capture, RunContextProvider):
        ...


def _provider_class() -> type:
    defined = globals().get("MlreproRunContext")
    if defined is None:
        from mlflow.tracking.context.abstract_context import RunContextProvider

        # That import may have loaded MLflow, whose registry asked for this class meanwhile.
        defined = globals().get("MlreproRunContext")
        if defined is None:
            defined = type(
                "MlreproRunContext",
                (_Capture, RunContextProvider),
                {"__module__": __name__, "__qualname__": "MlreproRunContext", "__doc__": "mlrepro's MLflow run-context provider."},
            )
            globals()["MlreproRunContext"] = defined
    return defined


def __getattr__(name: str) -> Any:
    if name == "MlreproRunContext":
        return _provider_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
