"""DVC-tracked data as a commit records it: output path -> md5, read from the committed
metadata (``*.dvc`` files and ``dvc.lock``) through git. Read-only, cached per commit.

Why not ``dvc.api``: importing it costs about a second, and what the data checks need —
which paths DVC versions at a commit, and under which md5 — is written verbatim in the
metadata files git already holds. Reading them with PyYAML answers for any commit without a
checkout, a DVC cache or a remote, and keeps the audit free of DVC's own start-up cost.
What it cannot do (and the checks do not ask): the md5 of a single file inside a directory
output, which lives in the ``.dir`` manifest in DVC's cache, not in git.

Formats read: ``.dvc`` files (``outs: [{md5, path}]``, paths relative to the file's
directory and its optional ``wdir``); ``dvc.lock`` in schema 2 (``stages: {name: {outs}}``,
paths relative to the stage's ``wdir`` from the neighbouring ``dvc.yaml``; ``foreach`` and
``matrix`` stages appear as ``name@key``) and the schema-1 layout (stages at the top level).
A metadata file that is not valid YAML is skipped: DVC itself cannot restore that data at
that commit, so the paths it names are not versioned there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

from mlrepro.sources.git_repo import GitRepo

LOCK_FILE = "dvc.lock"
PIPELINE_FILE = "dvc.yaml"


class DvcRepoError(Exception):
    """The repository holds no DVC project."""


class DvcRepo:
    def __init__(self, git_repo: GitRepo) -> None:
        if not (git_repo.root / ".dvc").is_dir():
            raise DvcRepoError(f"{git_repo.root}: not a DVC repository (no .dvc directory)")
        self._git = git_repo
        self._outputs: dict[str, dict[str, str]] = {}

    def outputs_at(self, sha: str) -> dict[str, str]:
        """DVC output path (relative to the repository root) -> md5 at commit ``sha``; an
        md5 ending in ``.dir`` marks a directory output. Empty for an unknown commit."""
        full = self._git.resolve(sha)
        if full is None:
            return {}
        if full not in self._outputs:
            self._outputs[full] = dict(self._read_outputs(full))
        return dict(self._outputs[full])

    def _read_outputs(self, sha: str) -> Iterator[tuple[str, str]]:
        for path in sorted(self._git.files_at(sha)):
            if path.startswith(".dvc/"):
                continue
            name = posixpath.basename(path)
            if name.endswith(".dvc") and name != ".dvc":
                yield from self._dvc_file_outputs(sha, path)
            elif name == LOCK_FILE:
                yield from self._lock_file_outputs(sha, path)

    def _load(self, sha: str, path: str) -> Any:
        import yaml

        data = self._git.file_at(sha, path)
        if data is None:
            return None
        try:
            return yaml.safe_load(data)
        except yaml.YAMLError:
            return None

    def _dvc_file_outputs(self, sha: str, path: str) -> Iterator[tuple[str, str]]:
        data = self._load(sha, path)
        if not isinstance(data, Mapping):
            return
        base = _join(posixpath.dirname(path), _text(data.get("wdir")) or ".")
        yield from _outs(data.get("outs"), base)

    def _lock_file_outputs(self, sha: str, path: str) -> Iterator[tuple[str, str]]:
        data = self._load(sha, path)
        if not isinstance(data, Mapping):
            return
        stages = data.get("stages") if "stages" in data or "schema" in data else data  # schema 1: stages at the top
        if not isinstance(stages, Mapping):
            return
        directory = posixpath.dirname(path)
        wdirs = self._stage_wdirs(sha, posixpath.join(directory, PIPELINE_FILE) if directory else PIPELINE_FILE)
        for name, stage in stages.items():
            if not isinstance(stage, Mapping):
                continue
            # Lock paths are relative to the stage's working directory, which only dvc.yaml states.
            wdir = wdirs.get(str(name).split("@", 1)[0], ".")
            yield from _outs(stage.get("outs"), _join(directory, wdir))

    def _stage_wdirs(self, sha: str, pipeline: str) -> dict[str, str]:
        data = self._load(sha, pipeline)
        stages = data.get("stages") if isinstance(data, Mapping) else None
        if not isinstance(stages, Mapping):
            return {}
        wdirs: dict[str, str] = {}
        for name, stage in stages.items():
            if not isinstance(stage, Mapping):
                continue
            body = stage.get("do") if isinstance(stage.get("do"), Mapping) else stage
            wdir = _text(body.get("wdir"))
            # An interpolated wdir (${item}) cannot be resolved without DVC; fall back to the file's directory.
            if wdir and "${" not in wdir:
                wdirs[str(name)] = wdir
        return wdirs


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _join(base: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(base, path)) if base else posixpath.normpath(path)


def _outs(outs: object, base: str) -> Iterator[tuple[str, str]]:
    if not isinstance(outs, list):
        return
    for out in outs:
        if not isinstance(out, Mapping):
            continue
        path, md5 = _text(out.get("path")), _text(out.get("md5"))
        if path is None or md5 is None or "://" in path or posixpath.isabs(path):
            continue  # external outputs (s3://...) are not files of this repository
        resolved = _join(base, path)
        if resolved == ".." or resolved.startswith("../"):
            continue
        yield resolved, md5
