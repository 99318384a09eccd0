"""The one reader of a run's git commit, for the audit, ``mlrepro reproduce`` and the report.

Two tags can hold it. The capture plugin's ``mlrepro.git.commit`` wins over MLflow's
``mlflow.source.git.commit``: MLflow reads the commit once per process, from the script's path
only (a notebook records its first run's commit on every later run; ``python -m`` records none),
while the plugin reads HEAD at every run start, and is the commit its recorded diff applies to.
Whichever tag is read, its value is judged the same way everywhere: a blank value records
nothing (MLR501), anything else that is not a hash is a bad commit (MLR502).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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
