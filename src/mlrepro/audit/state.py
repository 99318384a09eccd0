"""What ``--incremental`` remembers between audits of one store: when the last one started.

MLflow runs have no last-modified time, so "changed since the last audit" is three queries:
runs started since, runs ended since, and runs still RUNNING (they may have died since).
Tags edited on an old run stay invisible to this, which is why a periodic full audit is still
needed; docs/audit.md says so.

One small JSON file per store, named by a hash of its redacted, absolute tracking URI, in the user's
cache directory (``$MLREPRO_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlrepro``, else
``~/.cache/mlrepro``). Never in the tracking store: the audit is read-only there.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlrepro.sources.mlflow_store import absolute_uri, redact


def cache_dir() -> Path:
    if os.environ.get("MLREPRO_CACHE_DIR"):
        return Path(os.environ["MLREPRO_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlrepro"


@dataclass(frozen=True)
class AuditState:
    uri: str  # redacted
    last_started: datetime


def _path(uri: str, directory: Path) -> Path:
    # By the store, not by its spelling: `sqlite:///mlflow.db` in two projects is two stores.
    key = hashlib.sha256(redact(absolute_uri(uri)).encode("utf-8")).hexdigest()[:16]
    return directory / f"audit-{key}.json"


def load_state(uri: str, directory: Path | None = None) -> AuditState | None:
    """The previous audit of this store, or None (first audit, or an unreadable file)."""
    path = _path(uri, directory or cache_dir())
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AuditState(str(data["uri"]), datetime.fromisoformat(data["last_started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_state(uri: str, started: datetime, directory: Path | None = None) -> Path:
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = _path(uri, directory)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"uri": redact(uri), "last_started": started.astimezone(timezone.utc).isoformat()}), encoding="utf-8")
    tmp.replace(path)  # atomic: a crashed audit never leaves half a state file
    return path
