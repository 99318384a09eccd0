"""Data versions (MLR601–MLR604): can the data a run trained on be found again?

A run names its data through logged dataset inputs, data-version tags, and the DVC md5s that
mlrepro's capture plugin records as ``mlrepro.dvc.<path>`` tags. These checks ask whether
that record pins the data down: through git (the file is in the commit's tree) or through DVC
(the commit's metadata versions the path, under the md5 the run saw).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from mlrepro import tags as tag_names
from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext, CodeRepository
from mlrepro.records import DatasetInput, RunRecord
from mlrepro.run_commit import commit_hash

# The capture plugin records `mlrepro.dvc.<path relative to the repo root>` = md5.
DVC_TAG_PREFIX = tag_names.DVC_PREFIX


def _short(sha: str) -> str:
    return sha[:7]


def _dvc_tags(run: RunRecord) -> dict[str, str]:
    """Recorded DVC md5s by normalised path; tags with an empty path or value say nothing."""
    recorded: dict[str, str] = {}
    for key, value in run.tags.items():
        if key.startswith(DVC_TAG_PREFIX) and value.strip():
            path = _normalise(key[len(DVC_TAG_PREFIX):])
            if path is not None:
                recorded[path] = value.strip()
    return recorded


def _normalise(path: str) -> str | None:
    """A repository-relative posix path, or None when it leaves the repository."""
    path = path.strip().replace("\\", "/").lstrip("/")
    if not path:
        return None
    norm = posixpath.normpath(path)
    if norm == "." or norm == ".." or norm.startswith("../"):
        return None
    return norm


@run_check
def missing_data_version(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR601: no dataset input, no data-version tag, no recorded DVC md5."""
    if run.datasets:
        return
    tags = ctx.policy.data_version_tags
    if any(run.tags.get(tag, "").strip() for tag in tags) or _dvc_tags(run):
        return
    names = ", ".join(tags) if tags else "none configured"
    yield (
        f"no dataset inputs logged and no data-version tag ({names}): "
        "the data this run trained on cannot be identified"
    )


@run_check
def dataset_without_digest(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR602: a dataset input whose digest is empty."""
    seen: set[tuple[str, str | None]] = set()
    for dataset in run.datasets:
        key = (dataset.name, dataset.source)
        if (dataset.digest or "").strip() or key in seen:
            continue
        seen.add(key)
        yield (
            f"dataset '{dataset.name}' was logged without a digest: "
            "a change to its contents would go unnoticed"
        )


def _local_path(dataset: DatasetInput) -> str | None:
    """The file path of a local dataset source, or None for remote and non-file sources."""
    if (dataset.source_type or "").lower() != "local" or not dataset.source:
        return None
    try:
        source = json.loads(dataset.source)
    except ValueError:
        return None
    uri = source.get("uri") if isinstance(source, Mapping) else None
    if not isinstance(uri, str) or not uri.strip():
        return None
    uri = uri.strip()
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path) or None
    if parsed.scheme:  # remote (s3, http, ...) or a Windows drive letter, which no posix checkout maps
        return None
    return uri


def _training_layout(run: RunRecord, repo: CodeRepository, commit: str) -> tuple[str | None, str | None]:
    """(repository root on the training machine, script directory relative to the root),
    from ``mlflow.source.name``: the longest tail of the script path that the commit tracks
    tells where the checkout was, even when it ran on another machine."""
    source = (run.source_name or "").split("#", 1)[0]
    if not source or "://" in source:
        return None, None
    parts = PurePosixPath(source.replace("\\", "/")).parts
    if not PurePosixPath(source).is_absolute():
        rel = _normalise(source)
        return None, (posixpath.dirname(rel) if rel else None)
    for start in range(1, len(parts)):
        tail = "/".join(parts[start:])
        if repo.tracked_at(commit, tail):
            return "/" + "/".join(parts[1:start]), posixpath.dirname(tail)
    return None, None


def _candidates(path: str, run: RunRecord, repo: CodeRepository, commit: str) -> list[str]:
    """Where ``path`` may lie in the repository, most likely first. A relative path is taken
    from the repository root (where training scripts usually start) or else from the script's
    directory; an absolute one must lie under this checkout or under the training checkout."""
    training_root, script_dir = _training_layout(run, repo, commit)
    found: list[str] = []
    if PurePosixPath(path).is_absolute():
        for root in (repo.root.as_posix(), training_root):
            if root and root != "/" and (path + "/").startswith(root.rstrip("/") + "/"):
                found.append(path[len(root.rstrip("/")):])
    else:
        found.append(path)
        if script_dir:
            found.append(posixpath.join(script_dir, path))
    result: list[str] = []
    for candidate in found:
        norm = _normalise(candidate)
        if norm is not None and norm not in result:
            result.append(norm)
    return result


def _dvc_versioned(path: str, outputs: Mapping[str, str]) -> bool:
    """An output itself, a file inside a directory output, or a directory holding outputs."""
    if path in outputs:
        return True
    return any(
        (md5.endswith(".dir") and path.startswith(out + "/")) or out.startswith(path + "/")
        for out, md5 in outputs.items()
    )


@run_check
def unversioned_data_file(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR603: a local dataset file that the run's commit neither tracks in git nor versions with DVC."""
    repo, commit = ctx.repo, commit_hash(run.tags)
    if repo is None or not commit or not repo.commit_exists(commit):
        return
    outputs = ctx.data.outputs_at(commit) if ctx.data is not None else {}
    reported: set[str] = set()
    for dataset in run.datasets:
        path = _local_path(dataset)
        if path is None:
            continue
        candidates = _candidates(path, run, repo, commit)
        if not candidates or candidates[0] in reported:
            continue  # outside the repository: nothing here can say whether it was versioned
        if any(repo.tracked_at(commit, c) or _dvc_versioned(c, outputs) for c in candidates):
            continue
        reported.add(candidates[0])
        yield (
            f"dataset '{dataset.name}' reads {candidates[0]}, which commit {_short(commit)} neither "
            "tracks in git nor versions with DVC: the exact data cannot be recovered"
        )


@run_check
def dvc_data_mismatch(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR604: a recorded DVC md5 that the run's commit does not hold for that path."""
    recorded = _dvc_tags(run)
    repo, commit = ctx.repo, commit_hash(run.tags)
    if not recorded or ctx.data is None or repo is None or not commit or not repo.commit_exists(commit):
        return
    outputs = ctx.data.outputs_at(commit)
    for path, md5 in sorted(recorded.items()):
        current = outputs.get(path)
        if current is None:
            if any(out_md5.endswith(".dir") and path.startswith(out + "/") for out, out_md5 in outputs.items()):
                continue  # a file inside a directory output: its md5 is in DVC's cache, not in git
            yield (
                f"DVC data {path} (md5 {md5}) is not a DVC output at commit {_short(commit)}: "
                "checking out the commit cannot restore the data the run used"
            )
        elif current.lower() != md5.lower():
            yield (
                f"DVC md5 recorded for {path} ({md5}) differs from commit {_short(commit)} ({current}): "
                "the run trained on data that its commit does not describe"
            )
