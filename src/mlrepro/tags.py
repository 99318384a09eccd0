"""Tag names that mlrepro writes and reads, in one place: the capture plugin writes them,
the audit checks and the reproduce planner read them, and a name spelled twice drifts.

Imports nothing, so audit checks and the lint path may import it freely.
"""

from __future__ import annotations

# -- MLflow's own tags -----------------------------------------------------------------------
MLFLOW_COMMIT = "mlflow.source.git.commit"
MLFLOW_BRANCH = "mlflow.source.git.branch"
MLFLOW_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_PARENT = "mlflow.parentRunId"  # on a nested (child) run
MLFLOW_ENTRY_POINT = "mlflow.project.entryPoint"
MLFLOW_DIRTY = "mlflow.source.git.dirty"  # not written by MLflow itself; some teams' wrappers do
MLFLOW_DIFF_PREFIX = "mlflow.source.git.diff"
MLFLOW_DOCKER_IMAGE = "mlflow.docker.image.id"

# -- the capture plugin (mlrepro.capture) ----------------------------------------------------
COMMAND = "mlrepro.command"
CWD = "mlrepro.cwd"
PYTHON = "mlrepro.python"
PLATFORM = "mlrepro.platform"
CPU = "mlrepro.cpu"
HASH_SEED = "mlrepro.pythonhashseed"
RUN_BY = "mlrepro.run_by"
CAPTURE_VERSION = "mlrepro.capture_version"  # written on every run the plugin tags
CAPTURE_ERROR = "mlrepro.capture_error"
THREADPOOL = "mlrepro.threadpool"
THREADS = "mlrepro.threads.{}"  # one per thread variable (OMP_NUM_THREADS, ...)
THREADS_PREFIX = "mlrepro.threads."
SEED = "mlrepro.seed"
SEEDED = "mlrepro.seeded"
DETERMINISTIC = "mlrepro.deterministic"
FREEZE = "mlrepro.pip_freeze_sha256"

GIT_COMMIT = "mlrepro.git.commit"
GIT_BRANCH = "mlrepro.git.branch"
GIT_DIRTY = "mlrepro.git.dirty"
GIT_CWD = "mlrepro.git.cwd"
GIT_ON_REMOTE = "mlrepro.git.remote_contains_commit"
GIT_UNTRACKED = "mlrepro.git.untracked"
GIT_UNTRACKED_COUNT = "mlrepro.git.untracked_count"
GIT_DIFF_PREFIX = "mlrepro.git.diff"
GIT_DIFF_PART = "mlrepro.git.diff.{}"
GIT_DIFF_PARTS = "mlrepro.git.diff_parts"
GIT_DIFF_SHA = "mlrepro.git.diff_sha256"
GIT_DIFF_BYTES = "mlrepro.git.diff_bytes"
GIT_STASH = "mlrepro.git.stash_ref"

DVC_PREFIX = "mlrepro.dvc."  # + output path -> md5
DVC_UNRECORDED = "mlrepro.dvc_unrecorded"

# -- the guarded run (mlrepro.tracked_run) ---------------------------------------------------
MODEL_GATE = "mlrepro.model_gate"
ERROR = "mlrepro.error"

# -- mlrepro reproduce -----------------------------------------------------------------------
REPRODUCES = "mlrepro.reproduces"  # on a reproduction run: the original's id
REPRODUCED_VERDICT = "mlrepro.reproduced.verdict"  # on the original, with --record
REPRODUCED_RUN_IDS = "mlrepro.reproduced.run_ids"
REPRODUCED_DATE = "mlrepro.reproduced.date"
REPRODUCED_PARAMS_MATCH = "mlrepro.reproduced.params_match"
REPRODUCED_DATA_MATCH = "mlrepro.reproduced.data_match"
# On a reproduction run that did not finish on its own: what ended it (a timeout, SIGTERM, ...).
REPRODUCTION_CAUSE = "mlrepro.reproduction.cause"

# Facts whose difference between a run and its reproduction is a likely cause of divergence.
ENVIRONMENT_PREFIXES = (FREEZE, THREADS_PREFIX, HASH_SEED, PYTHON, PLATFORM, CPU)

# -- mlrepro promote: the trail on a model version that passed the gate (MLR804 reads it) -------
PROMOTED_BY = "mlrepro.promoted_by"
PROMOTED_AT = "mlrepro.promoted_at"
PROMOTION_GATE = "mlrepro.gate"  # the gates that ran: "audit,must-beat,reproduce"
AUDIT_DIGEST = "mlrepro.audit_digest"
PROMOTION_REPRODUCED = "mlrepro.reproduced"  # "<verdict> <reproduction run id>" (a version tag, not the run's)
PROMOTED_TO = "mlrepro.promoted_to"  # "@champion,stage:Production"
