"""Code provenance (MLR5xx): can the code, the seed and the environment that produced the
run be found again?

The checks that need the repository stay quiet when the audit runs outside one
(``ctx.repo is None``): they cannot tell a missing commit from a repository they were not
given. Optional repository capabilities beyond ``CodeRepository`` (``files_at``,
``remote_urls``, ``shallow``; ``GitRepo`` has them) are looked up with ``getattr`` so that a
plainer implementation only makes the checks less precise, never wrong.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath

from mlrepro import tags as tag_names
from mlrepro.audit.checks import run_check
from mlrepro.audit.context import AuditContext, CodeRepository
from mlrepro.records import RunRecord
from mlrepro.run_commit import commit_hash, is_commit_hash
from mlrepro.run_commit import repo_key as _normal_url
from mlrepro.seeds import has_value, recorded_seeds

_TRUE = frozenset({"true", "1", "yes"})

# Written by mlrepro's capture plugin; MLflow's own pair comes from `mlflow.genai` git versioning.
DIRTY_TAGS = (tag_names.GIT_DIRTY, tag_names.MLFLOW_DIRTY)
DIFF_TAG_PREFIXES = (tag_names.GIT_DIFF_PREFIX, tag_names.MLFLOW_DIFF_PREFIX)
STASH_TAG = tag_names.GIT_STASH
PATCH_ARTIFACT = "mlrepro/uncommitted.patch"
WANDB_PATCH = "diff.patch"

SEED_TAG = tag_names.SEED

ENVIRONMENT_TAGS = (tag_names.FREEZE, tag_names.MLFLOW_DOCKER_IMAGE)
# `mlflow run` builds these from the project's environment file at the recorded commit.
PROJECT_ENVIRONMENTS = frozenset({"conda", "virtualenv", "uv", "docker"})
ENVIRONMENT_FILES = frozenset({
    "requirements.txt", "requirements.lock.txt", "python_env.yaml", "conda.yaml", "environment.yml",
    "environment.yaml", "pip-freeze.txt", "conda-environment.yaml",
})
# Pinned lock files at the root of the commit's tree also say which versions the code runs with.
LOCK_FILES = ("uv.lock", "poetry.lock", "Pipfile.lock", "pdm.lock", "conda-lock.yml", "pixi.lock")

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_SCP_URL = re.compile(r"(?:[^@/\s]+@)?([^:/\s]+):(?!//)(.+)")  # user@host:org/repo.git
_WINDOWS_PATH = re.compile(r"[a-zA-Z]:[\\/]|\\\\")


def _short(sha: str) -> str:
    return sha[:12]


def _recorded_commit(run: RunRecord) -> str | None:
    return commit_hash(run.tags)


def _known_commit(run: RunRecord, ctx: AuditContext) -> str | None:
    """The run's commit when the repository holds it: the checks that read its tree need it
    (an unknown or malformed one is MLR502's finding, not theirs)."""
    sha = _recorded_commit(run)
    if ctx.repo is None or sha is None or not ctx.repo.commit_exists(sha):
        return None
    return sha


@run_check
def missing_git_commit(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR501: no commit tag (``mlrepro.git.commit``, ``mlflow.source.git.commit``): the run cannot be tied to any code."""
    if not run.git_commit:
        yield "no git commit recorded (`mlrepro.git.commit` or `mlflow.source.git.commit`): the code that produced this run cannot be found"


@run_check
def unknown_commit(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR502: the recorded commit is not a hash, or the repository does not hold it."""
    value = run.git_commit
    if value is None:
        return  # MLR501
    if not is_commit_hash(value):
        # No repository can hold it, so this needs none (and such a value never reaches a git command line).
        shown = value if len(value) <= 60 else value[:57] + "..."
        yield f"recorded git commit {shown!r} is not a commit hash: no checkout can give back the code of this run"
        return
    if ctx.repo is None or ctx.repo.commit_exists(value):
        return
    if ctx.repo.shallow:
        why = "this clone is shallow: fetch the full history with `git fetch --unshallow` and audit again"
    else:
        why = "history rewritten, never pushed from the machine that trained, or not fetched yet"
    yield f"git commit {_short(value)} does not exist in {ctx.repo.root} ({why}): the code of this run cannot be checked out"


@run_check
def unpushed_commit(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR503: the commit exists here but no remote-tracking branch contains it.

    Quiet when the repository has no remote at all (``on_remote`` is None): then nothing is
    shared, and flagging every run would only restate how the project is set up."""
    sha = _known_commit(run, ctx)
    if sha is None or ctx.repo is None:
        return
    if ctx.repo.on_remote(sha) is False:
        yield (
            f"git commit {_short(sha)} is on no remote-tracking branch (never pushed, or its branch was deleted): "
            "only this clone holds the code of this run, colleagues cannot check it out"
        )


def _patch(run: RunRecord) -> str | None:
    """The uncommitted-diff artifact, when listed and not empty (an empty one records a clean tree)."""
    if run.artifacts is None:
        return None
    names = {PATCH_ARTIFACT} | ({WANDB_PATCH} if run.source == "wandb" else set())
    for artifact in run.artifacts:
        if artifact.model_id is None and artifact.path in names and artifact.size_bytes != 0:
            return artifact.path
    return None


@run_check
def dirty_working_tree(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR504: the run ran uncommitted changes. One rule, an error either way: the message says
    whether the diff was captured (reproducible with it applied) or lost."""
    flagged = any(run.tags.get(tag, "").strip().lower() in _TRUE for tag in DIRTY_TAGS)
    patch = _patch(run)
    if not flagged and patch is None:
        return  # MLflow itself records no dirty state: without the capture, nothing to go on
    sha = _recorded_commit(run)
    changes = f"uncommitted changes on top of commit {_short(sha)}" if sha else "uncommitted changes"
    if patch is not None:
        captured: str | None = f"artifact {patch}"
    elif run.tags.get(STASH_TAG, "").strip():
        captured = f"stash ref {run.tags[STASH_TAG].strip()}"
    else:
        diff_tags = sorted(tag for tag in run.tags if tag.startswith(DIFF_TAG_PREFIXES) and run.tags[tag])
        captured = f"tag{'s' if len(diff_tags) > 1 else ''} {diff_tags[0]}{'...' if len(diff_tags) > 1 else ''}" if diff_tags else None
    if captured:
        yield (
            f"the working tree was dirty: this run ran {changes}; the diff was captured ({captured}), "
            "so the run reproduces only with that diff applied to the commit"
        )
    else:
        yield (
            f"the working tree was dirty: this run ran {changes} that were not captured, "
            "so checking out the commit does not give back the code that ran"
        )


@functools.lru_cache(maxsize=4096)
def _path_in_commit(repo: CodeRepository, sha: str, name: str) -> bool:
    """Is the script ``name`` (``sys.argv[0]`` at training time: absolute, perhaps on another
    machine, or relative to a working directory we do not know) a file of the commit?"""
    windows = bool(_WINDOWS_PATH.match(name)) or ("\\" in name and "/" not in name)
    path = PureWindowsPath(name) if windows else PurePosixPath(name)
    if path.is_absolute() and not windows:
        for candidate in {os.path.normpath(name), os.path.realpath(name)}:
            for root in {str(repo.root), os.path.realpath(repo.root)}:
                if candidate == root or candidate.startswith(root.rstrip("/") + "/"):
                    relative = os.path.relpath(candidate, root)
                    return relative == "." or repo.tracked_at(sha, relative)
    parts = [part for part in path.parts[1 if path.is_absolute() else 0:] if part not in ("", ".", "..")]
    if not parts:
        return True  # names no file: nothing to compare
    if path.is_absolute():
        # Another machine's checkout: some tail of the path is the file's place in the tree.
        return any(repo.tracked_at(sha, "/".join(parts[i:])) for i in range(len(parts)))
    relative = "/".join(parts)
    tree = repo.files_at(sha)
    # Relative to the training working directory, which may have been any folder of the tree.
    return relative in tree or any(f.endswith("/" + relative) for f in tree)


def _project_source(run: RunRecord, ctx: AuditContext, name: str) -> Iterator[str]:
    """`mlflow run` records ``<project URI>#<subdirectory>``; the URI is the repository (a
    remote URL, or ``file://`` plus the working tree on the machine that launched it)."""
    assert ctx.repo is not None
    base, _, subdir = name.partition("#")
    sha = _known_commit(run, ctx)
    if sha is not None:
        # The commit is here, so the code is: a fork or mirror URL makes no difference.
        if subdir.strip("/") and not ctx.repo.tracked_at(sha, subdir.strip("/")):
            yield (
                f"project subdirectory {subdir} (source {name}) is not in commit {_short(sha)}: "
                "checking out the commit does not give back the project that ran"
            )
        return
    remote = (_URL.match(base) and not base.startswith("file://")) or (_SCP_URL.fullmatch(base) and not os.path.isabs(base))
    if not remote:
        return  # a local project directory: nothing to compare it with but the commit
    ours = {_normal_url(url) for url in ctx.repo.remote_urls()}
    theirs = {_normal_url(url) for url in (base, run.tags.get(tag_names.MLFLOW_REPO_URL, "")) if url.strip()}
    if ours and theirs and not ours & theirs:
        yield (
            f"the run's project {base} is not a remote of the audited repository {ctx.repo.root}: "
            "its code lives elsewhere (audit with --repo pointing at a clone of that project)"
        )


@run_check
def source_outside_repo(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR505: ``mlflow.source.name`` names code that the recorded commit does not hold."""
    name = (run.source_name or "").strip()
    if ctx.repo is None or not name:
        return
    if run.tags.get("mlflow.source.type", "").upper() == "PROJECT":
        yield from _project_source(run, ctx, name)
        return
    sha = _known_commit(run, ctx)
    if sha is None or _URL.match(name):
        return  # no tree to compare with (MLR501/MLR502), or a URL that names no file
    if not _path_in_commit(ctx.repo, sha, name):
        yield (
            f"source {name} is not a file of commit {_short(sha)}: the script that ran was never committed "
            f"(or lives outside {ctx.repo.root}), so checking out the commit does not give back its code"
        )


@run_check
def missing_seed(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR506: no param or tag named in ``seed-params`` (or ``mlrepro.seed``) carries a value.

    Not for a parent run (a hyperparameter sweep's, a pipeline's): its children train, and each
    child is judged on its own seed."""
    if run.run_id in ctx.parent_run_ids:
        return
    seeds = recorded_seeds(run.params, run.tags, ctx.policy.seed_params)
    if any(has_value(value) for _, value in seeds):
        return
    # An unrecorded seed may still be a fixed one in the code: say what cannot be shown, not
    # that re-runs differ (they may well be identical).
    if seeds:
        shown = ", ".join(f"{key}={value.strip() or '(empty)'}" for key, value in sorted(seeds))
        yield f"seed recorded without a value ({shown}): the seed is not recorded, so a re-run cannot be shown to draw the same random numbers"
    else:
        looked_for = ", ".join([*ctx.policy.seed_params, SEED_TAG])
        yield f"no seed recorded (no param or tag named {looked_for}): the seed is not recorded, so a re-run cannot be shown to draw the same random numbers"


@functools.lru_cache(maxsize=1024)
def _has_lock_file(repo: CodeRepository, sha: str) -> bool:
    return any(repo.tracked_at(sha, lock) for lock in LOCK_FILES)


@run_check
def missing_environment(run: RunRecord, ctx: AuditContext) -> Iterator[str]:
    """MLR507: nothing records which package versions the run used.

    Without an artifact listing (``--no-artifacts``) an environment file may well exist, so
    the check stays quiet unless a tag, the project environment or a lock file settles it."""
    if any(run.tags.get(tag, "").strip() for tag in ENVIRONMENT_TAGS):
        return
    if run.tags.get("mlflow.project.env", "").strip().lower() in PROJECT_ENVIRONMENTS:
        return
    sha = _known_commit(run, ctx)
    if sha is not None and ctx.repo is not None and _has_lock_file(ctx.repo, sha):
        return
    if not ctx.artifacts_listed or run.artifacts is None:
        return
    if any(PurePosixPath(artifact.path).name in ENVIRONMENT_FILES for artifact in run.artifacts):
        return
    yield (
        "no environment recorded (no mlrepro.pip_freeze_sha256 tag, no lock file in the commit, no requirements.txt, "
        "conda.yaml or python_env.yaml among the run's or its models' artifacts): a re-run may install different package versions"
    )
