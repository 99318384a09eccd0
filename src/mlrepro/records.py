"""What audit checks see of tracked runs and registered models: plain data, no MLflow objects.

Adapters (``sources/``) build these; checks never import mlflow, git, dvc or wandb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Run statuses, as MLflow spells them.
RUNNING, SCHEDULED, FINISHED, FAILED, KILLED = "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"


@dataclass(frozen=True)
class DatasetInput:
    name: str
    digest: str | None
    source_type: str | None  # "local", "http", "s3", "delta_table", "code", ...
    source: str | None  # the source's JSON (a path or URI for file sources)
    context: str | None = None  # "training", "validation", ...


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the run's (or the logged model's) artifact root
    size_bytes: int | None
    model_id: str | None = None  # set for files of an MLflow 3 logged model


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment_id: str
    experiment_name: str | None
    run_name: str | None
    status: str
    start_time: datetime | None
    end_time: datetime | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetInput, ...] = ()
    model_ids: tuple[str, ...] = ()  # MLflow 3 logged models this run produced
    # None: not listed (artifact checks off); () : listed and empty.
    artifacts: tuple[Artifact, ...] | None = None
    artifact_uri: str | None = None
    deleted: bool = False  # in MLflow's trash: restorable, but gone from every search and UI list
    name_generated: bool = False  # the tracker made the name up (MLflow's adjective-animal-number)
    source: str = "mlflow"  # or "wandb"
    location: str | None = None  # a W&B run directory

    @property
    def git_commit(self) -> str | None:
        """The recorded commit as written, from either commit tag (see ``run_commit``)."""
        from mlrepro.run_commit import recorded_commit

        return recorded_commit(self.tags)

    @property
    def source_name(self) -> str | None:
        return self.tags.get("mlflow.source.name") or None

    @property
    def logged_model(self) -> bool:
        """Did this run log a model (MLflow 3 logged model or the MLflow 2 ``mlflow.log-model.history`` tag)?"""
        return bool(self.model_ids) or "mlflow.log-model.history" in self.tags

    @property
    def label(self) -> str:
        return f"run {self.run_id}"


@dataclass(frozen=True)
class ModelVersionRecord:
    name: str
    version: str  # always a string: SQLite stores give ints, REST gives strings
    run_id: str | None
    stage: str | None  # legacy stage: None, Staging, Production, Archived
    aliases: tuple[str, ...]
    source: str | None
    status: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"model {self.name} v{self.version}"

    @property
    def in_use(self) -> bool:
        """Serving code may load it: a live stage or any alias."""
        return self.stage in ("Production", "Staging") or bool(self.aliases)
