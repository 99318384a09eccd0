"""Running `mlrepro promote` as users do (the in-process CLI), and reading the registry back."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

from audit_helpers import Store


def promote(store: Store, cwd: Path, *args: str, output_format: str = "json") -> tuple[int, Any, str]:
    """(exit code, parsed JSON or text, stderr)."""
    from mlrepro.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["promote", *args, "--tracking-uri", store.uri, "--output-format", output_format])
    finally:
        os.chdir(previous)
    text = out.getvalue()
    parsed = (json.loads(text) if text.strip() else None) if output_format == "json" else text
    return code, parsed, err.getvalue()


def aliases(store: Store, name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in store.client.get_registered_model(name).aliases.items()}


def version_tags(store: Store, name: str, version: str) -> dict[str, str]:
    return dict(store.client.get_model_version(name, version).tags)


def stage(store: Store, name: str, version: str) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return str(store.client.get_model_version(name, version).current_stage)
