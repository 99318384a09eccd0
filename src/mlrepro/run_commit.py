"""The one reader of a run's git commit, for the audit, ``mlrepro reproduce`` and the report.

Two tags can hold it. The capture plugin's ``mlrepro.git.commit`` wins over MLflow's
``mlflow.source.git.commit``: MLflow reads the commit once per process, from the script's path
only (a notebook records its first run's commit on every later run; ``python -m`` records none),
while the plugin reads HEAD at every run start, and is the commit its recorded diff applies to.
Whichever tag is read, its value is judged the same way everywhere: a blank value records
nothing (MLR501), anything else that is not a hash is a bad commit (MLR502).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from mlrepro import tags as tag_names

COMMIT_TAGS = (tag_names.GIT_COMMIT, tag_names.MLFLOW_COMMIT)  # first non-blank wins
_HEX_SHA = re.compile(r"[0-9a-fA-F]{4,64}")


def recorded_commit(tags: Mapping[str, str]) -> str | None:
    """The commit the run recorded, as written (stripped); None when no tag holds a value."""
    for name in COMMIT_TAGS:
        value = (tags.get(name) or "").strip()
        if value:
            return value
    return None


def is_commit_hash(value: str) -> bool:
    """Whether ``value`` can name a commit at all (a full or abbreviated hex hash). Anything
    else never reaches a git command line: a tag value such as ``--output=x`` is an option."""
    return _HEX_SHA.fullmatch(value) is not None


def commit_hash(tags: Mapping[str, str]) -> str | None:
    """The recorded commit when it is a hash, else None (missing: MLR501; malformed: MLR502)."""
    value = recorded_commit(tags)
    return value if value is not None and is_commit_hash(value) else None


_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_SCP_URL = re.compile(r"(?:[^@/\s]+@)?([^:/\s]+):(?!//)(.+)")  # user@host:org/repo.git


def recorded_repo_url(tags: Mapping[str, str]) -> str | None:
    """The remote the run's code came from, as MLflow recorded it (``mlflow.source.git.repoURL``:
    the origin of the script's repository, or the project URI of ``mlflow run``); None if none."""
    value = (tags.get(tag_names.MLFLOW_REPO_URL) or "").strip()
    return value or None


def repo_key(url: str) -> str:
    """One spelling per repository: scheme, credentials, port, `.git` and case dropped, so that
    https://host/org/repo.git, ssh://git@host/org/repo and git@host:org/repo compare equal."""
    text = url.strip()
    if text.startswith("file://"):
        return "file:" + os.path.normpath(unquote(text[len("file://"):]))
    if _URL.match(text):
        try:
            parts = urlsplit(text)
            text = f"{parts.hostname or ''}/{parts.path.lstrip('/')}"
        except ValueError:  # "https://[oops/x": a tag value or a config key, not to end the audit
            pass
    elif os.path.isabs(text):
        return "file:" + os.path.normpath(text)
    elif match := _SCP_URL.fullmatch(text):
        text = f"{match.group(1)}/{match.group(2).lstrip('/')}"
    text = text.rstrip("/")
    return text[: -len(".git")].lower() if text.endswith(".git") else text.lower()
