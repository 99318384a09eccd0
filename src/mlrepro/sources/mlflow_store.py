"""The MLflow tracking store, read through MLflow's public client, mapped to plain records.

The audit only reads: nothing it calls creates, updates or migrates anything in the store.
The few writes (a reproduction run, `--record` tags; aliases, stages and version tags) are
separate methods that only `mlrepro reproduce` and `mlrepro promote` call. MLflow's SQL
store repairs what it opens (it creates missing tables, migrates, adds the default
experiment), so a SQLite URI must name an existing file whose schema is complete and at the
revision this MLflow expects, checked before MLflow touches it; and a store opened without
``writable`` is opened read-only (SQLite's ``mode=ro``), so nothing can write to it.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from mlrepro import redaction
from mlrepro.records import Artifact, DatasetInput, ModelVersionRecord, RunRecord

PAGE_SIZE = 50_000  # search_runs' own maximum: one page per 50k runs
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "file")


class TrackingStoreError(Exception):
    """The tracking store cannot be reached or read."""


def redact(uri: str) -> str:
    """Hide credentials in a URI or a message (``https://user:token@host`` -> ``https://***@host``):
    :func:`mlrepro.redaction.redact`, the one redactor, under the name the adapters know."""
    return redaction.redact(uri)


def resolve_tracking_uri(cli: str | None, configured: str | None) -> str:
    """``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > ``[tool.mlrepro] tracking-uri`` > the embedded default."""
    return cli or os.environ.get("MLFLOW_TRACKING_URI") or configured or DEFAULT_TRACKING_URI


def absolute_uri(uri: str, cwd: Path | None = None) -> str:
    """``uri`` naming the same store from any directory: a relative SQLite path, ``file:`` URI
    or plain path is resolved against ``cwd`` (default: the current directory), as MLflow would
    here. Children run elsewhere (a reproduction in a temporary worktree, where
    ``sqlite:///mlflow.db`` is a new, empty database), and ``--incremental`` state is keyed by
    the store, not by its spelling. Other URIs (servers, databases) come back unchanged."""
    base = cwd or Path.cwd()
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme == "sqlite" and uri.startswith("sqlite:///"):
        rest = uri[len("sqlite:///") :]
        path, sep, query = rest.partition("?")
        if not path or path.startswith("/") or path == ":memory:":
            return uri
        return f"sqlite:///{(base / unquote(path)).resolve()}{sep}{query}"
    if scheme == "file":
        rest = uri[len("file:") :]
        if rest.startswith("//"):
            return uri  # file:///abs (or a host): already absolute
        path, sep, query = rest.partition("?")
        return (base / unquote(path)).resolve().as_uri() + sep + query
    if uri and not uri.lower().startswith("databricks") and (scheme == "" or (len(scheme) == 1 and os.name == "nt")):
        return str((base / uri).resolve())  # a plain path (or C:\...); "databricks" alone is a URI
    return uri


def _sqlite_path(uri: str) -> Path:
    path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else uri[len("sqlite://") :]
    path = path.split("?", 1)[0]  # SQLAlchemy options (and sometimes credentials) follow the path
    return Path(unquote(path)) if path else Path(":memory:")


def check_uri(uri: str) -> None:
    """Refuse what we cannot read without side effects, with a message that says why."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in _SCHEMES:
        if scheme == "" and (uri.endswith("mlruns") or Path(uri).is_dir()):
            raise TrackingStoreError(
                f"{uri}: a plain directory is MLflow's file store, which current MLflow refuses; "
                "migrate it (`mlflow migrate-filestore`) or pass a sqlite:/// or http:// URI"
            )
        raise TrackingStoreError(f"{redact(uri)}: unsupported tracking URI scheme {scheme!r} (use sqlite:///PATH or http://HOST:PORT)")
    if scheme == "sqlite":
        path = _sqlite_path(uri)
        if not path.is_file():
            raise TrackingStoreError(f"{redact(uri)}: no MLflow database at {path} (nothing to audit)")
        tables: set[str] = set()
        revisions: list[str] = []
        conn = None
        try:
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "alembic_version" in tables:
                revisions = [str(row[0]) for row in conn.execute("SELECT version_num FROM alembic_version")]
        except sqlite3.DatabaseError as exc:
            raise TrackingStoreError(f"{redact(uri)}: not a readable SQLite database: {exc}") from None
        finally:
            if conn is not None:
                conn.close()
        if "runs" not in tables or "alembic_version" not in tables:
            raise TrackingStoreError(f"{redact(uri)}: {path} is not an MLflow tracking database")
        _check_schema(uri, path, tables, revisions)


def _expected_schema() -> tuple[frozenset[str], str | None, str]:
    """The tables this MLflow's SQL store needs, the schema revision it expects, and its
    version. Exactly what it would otherwise create or migrate when it opens the database.
    Private helpers of MLflow: without them, the core tables and no revision check."""
    import mlflow

    try:
        from mlflow.store.db import utils as db_utils  # registers every table on Base.metadata
        from mlflow.store.db.base_sql_model import Base

        return frozenset(Base.metadata.tables), str(db_utils._get_latest_schema_revision()), mlflow.__version__
    except Exception:  # noqa: BLE001 - a future MLflow that moved them
        return _CORE_TABLES, None, mlflow.__version__


_CORE_TABLES = frozenset({"experiments", "runs", "tags", "params", "metrics", "latest_metrics", "registered_models", "model_versions"})


def _check_schema(uri: str, path: Path, tables: set[str], revisions: list[str]) -> None:
    expected, head, version = _expected_schema()
    where = f"{redact(uri)}: {path}"
    if len(revisions) != 1 or not revisions[0]:
        raise TrackingStoreError(f"{where} is damaged: no schema revision in alembic_version; restore it from a backup (nothing was changed)")
    if head is not None and revisions[0] != head:
        raise TrackingStoreError(
            f"{where} has schema revision {revisions[0]!r}, MLflow {version} expects {head!r}: upgrade a copy with "
            "`mlflow db upgrade`, or use the MLflow that wrote it (nothing was changed)"
        )
    missing = sorted(expected - tables)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise TrackingStoreError(f"{where} is damaged: missing tables: {shown}; restore it from a backup (nothing was changed)")


def _read_only_uri(uri: str) -> str:
    """The SQLAlchemy URI that opens a SQLite store read-only: SQLite's ``file:`` URI form with
    ``mode=ro``. The path is percent-encoded whole (slashes too): MLflow creates the parent
    directories of whatever follows ``sqlite:///``, and an encoded path has no parent to make."""
    if not uri.startswith("sqlite:"):
        return uri
    path = _sqlite_path(uri)
    if str(path) == ":memory:":
        return uri
    query = [(k, v) for k, v in parse_qsl(uri.split("?", 1)[1] if "?" in uri else "", keep_blank_values=True) if k not in ("mode", "uri")]
    encoded = quote(str(path.resolve()), safe="")
    if _url_database_is_decoded():
        # SQLAlchemy 2.1 decodes the database part (and MLflow 3.18 makes the parents of the
        # decoded path): encode it twice so that SQLite, not SQLAlchemy, does the last decoding.
        encoded = quote(encoded, safe="")
    return f"sqlite:///file:{encoded}?" + urlencode([("mode", "ro"), ("uri", "true"), *query])


@functools.cache
def _url_database_is_decoded() -> bool:
    from sqlalchemy.engine import make_url

    return make_url("sqlite:///a%2Fb").database == "a/b"


class _DropReportedErrors(logging.Filter):
    """MLflow's SQL store logs a traceback for every database error before raising it; we
    report the error in one line (the traceback is for ``-v``), so the log record goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and str(record.msg).startswith("SQLAlchemy database error"))


_DROP_REPORTED = _DropReportedErrors()


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if ms else None


def create_sqlite_store(path: Path, experiments: Mapping[str, Path]) -> str:
    """Create a new SQLite tracking database (MLflow migrates its schema: seconds) holding
    ``experiments`` (name -> artifact directory), and return its URI. For a store that
    several processes are about to write at once: each would otherwise try to create the
    schema and the experiment itself, and all but one would fail."""
    if path.exists():
        raise TrackingStoreError(f"{path} already exists")
    uri = f"sqlite:///{path}"
    quiet = logging.getLogger("mlflow.store.db.utils")  # "Creating initial MLflow database tables..."
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for name, artifacts in experiments.items():
            client.create_experiment(name, artifact_location=artifacts.resolve().as_uri())
    except Exception as exc:
        raise TrackingStoreError(f"{uri}: cannot create the tracking store: {_short(exc)}") from None
    finally:
        quiet.setLevel(level)
    return uri


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str


def select_experiments(found: Sequence[Experiment], include: Sequence[str], exclude: Sequence[str]) -> list[Experiment]:
    """The experiments an audit reads among the active ones ``found``: those named (by name,
    else id) in ``include``, in that order, or all; minus those named in ``exclude``."""
    if include:
        by_name = {e.name: e for e in found}
        by_id = {e.experiment_id: e for e in found}
        missing = [name for name in include if name not in by_name and name not in by_id]
        if missing:
            raise TrackingStoreError(f"no such experiment: {', '.join(missing)}")
        found = [by_name.get(name) or by_id[name] for name in include]
    return [e for e in found if e.name not in exclude and e.experiment_id not in exclude]


def run_record(
    *,
    run_id: str,
    experiment_id: str,
    experiment_name: str | None,
    run_name: str | None,
    status: str,
    start_ms: int | None,
    end_ms: int | None,
    params: dict[str, str],
    metrics: dict[str, float],
    tags: dict[str, str],
    datasets: Sequence[DatasetInput],
    model_outputs: Sequence[tuple[int | None, str]],
    artifact_uri: str | None,
    lifecycle_stage: str | None,
) -> RunRecord:
    """One run as the checks see it, from what MLflow stores; the client path and the SQL fast
    path (``mlflow_sql``) both build their records here, so they cannot drift apart.

    The store keeps no order among a run's dataset inputs or logged models (their rows carry
    random ids, and MLflow reads them without ORDER BY, so PostgreSQL returns them in any
    order): both are sorted, datasets by their fields, models by (step, id)."""
    run_name = run_name or tags.get("mlflow.runName") or None
    return RunRecord(
        run_id=run_id,
        experiment_id=experiment_id,
        experiment_name=experiment_name,
        run_name=run_name,
        name_generated=_generated_name(run_name),
        status=status,
        start_time=_time(start_ms),
        end_time=_time(end_ms),
        params=params,
        metrics=metrics,
        tags=tags,
        datasets=tuple(sorted(datasets, key=_dataset_key)),
        model_ids=tuple(model_id for _, model_id in sorted(model_outputs, key=lambda o: (o[0] or 0, o[1]))),
        artifact_uri=artifact_uri,
        deleted=lifecycle_stage == "deleted",
    )


def _dataset_key(d: DatasetInput) -> tuple[str, str, str, str, str]:
    return (d.name, d.digest or "", d.source_type or "", d.source or "", d.context or "")


class MlflowStore:
    """One tracking URI. Construct with :meth:`open`; every method raises TrackingStoreError."""

    def __init__(self, uri: str, client: Any) -> None:
        self.uri = uri
        self._client = client

    @classmethod
    def open(cls, uri: str, http_timeout: int = 15, writable: bool = False) -> MlflowStore:
        """``writable``: for the commands that log runs, tags or registry moves; every other
        use opens a SQLite store read-only."""
        redaction.remember_uri(uri)  # its password may show up alone, in MLflow's messages or a child's log
        uri = absolute_uri(uri)  # children and the --incremental state must name this store, wherever they run
        check_uri(uri)
        client_uri = uri if writable else _read_only_uri(uri)
        if uri.startswith(("http://", "https://")):
            # MLflow's REST client retries for minutes by default; an audit should fail fast.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(http_timeout))
        try:
            from mlflow import MlflowClient

            logging.getLogger("mlflow.store.db.utils").addFilter(_DROP_REPORTED)
            client = MlflowClient(tracking_uri=client_uri, registry_uri=client_uri)  # a SQL store connects here
            if uri.startswith(("http://", "https://")):
                client.search_experiments(max_results=1)  # a REST client connects lazily: probe it
        except Exception as exc:  # MlflowException, requests' errors, SQLAlchemy's: all "unreachable"
            raise TrackingStoreError(f"{redact(uri)}: cannot reach the tracking store: {_short(exc)}") from None
        return cls(uri, client)

    # -- experiments and runs --------------------------------------------------------------
    def experiments(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Experiment]:
        from mlflow.entities import ViewType

        try:
            found = [Experiment(e.experiment_id, e.name) for e in self._paged(self._client.search_experiments, view_type=ViewType.ACTIVE_ONLY)]
        except Exception as exc:
            raise TrackingStoreError(f"{redact(self.uri)}: cannot list experiments: {_short(exc)}") from None
        return select_experiments(found, include, exclude)

    def _paged(self, method: Any, **kwargs: Any) -> Iterator[Any]:
        token = None
        while True:
            page = method(page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    def iter_runs(self, experiments: Sequence[Experiment], filter_string: str = "") -> Iterator[RunRecord]:
        if not experiments:
            return
        names = {e.experiment_id: e.name for e in experiments}
        try:
            for run in self._paged(
                self._client.search_runs,
                experiment_ids=list(names),
                filter_string=filter_string,
                max_results=PAGE_SIZE,
                order_by=["attributes.start_time ASC"],
            ):
                yield self._record(run, names.get(run.info.experiment_id))
        except TrackingStoreError:
            raise
        except Exception as exc:
            raise TrackingStoreError(f"{redact(self.uri)}: cannot search runs: {_short(exc)}") from None

    def get_run(self, run_id: str) -> RunRecord | None:
        try:
            run = self._client.get_run(run_id)
        except Exception as exc:
            if _not_found(exc):
                return None
            raise TrackingStoreError(f"{redact(self.uri)}: cannot read run {run_id}: {_short(exc)}") from None
        try:
            name = self._client.get_experiment(run.info.experiment_id).name
        except Exception:
            name = None
        return self._record(run, name)

    @staticmethod
    def _record(run: Any, experiment_name: str | None) -> RunRecord:
        info, data = run.info, run.data
        datasets = []
        inputs = getattr(run, "inputs", None)
        for item in getattr(inputs, "dataset_inputs", None) or ():
            ds = item.dataset
            context = next((t.value for t in item.tags or () if t.key == "mlflow.data.context"), None)
            datasets.append(DatasetInput(ds.name, ds.digest or None, ds.source_type or None, ds.source or None, context))
        outputs = getattr(run, "outputs", None)
        return run_record(
            run_id=info.run_id,
            experiment_id=info.experiment_id,
            experiment_name=experiment_name,
            run_name=info.run_name,
            status=info.status,
            start_ms=info.start_time,
            end_ms=info.end_time,
            params=dict(data.params),
            metrics=dict(data.metrics),
            tags=dict(data.tags),
            datasets=datasets,
            model_outputs=[(getattr(o, "step", 0), o.model_id) for o in getattr(outputs, "model_outputs", None) or ()],
            artifact_uri=info.artifact_uri,
            lifecycle_stage=getattr(info, "lifecycle_stage", "active"),
        )

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """Every value logged for one metric, as (step, value) in logging order."""
        try:
            history = self._client.get_metric_history(run_id, key)
        except Exception as exc:
            raise TrackingStoreError(f"run {run_id}: cannot read the history of {key!r}: {_short(exc)}") from None
        return [(int(m.step), float(m.value)) for m in sorted(history, key=lambda m: (m.timestamp, m.step))]

    # -- artifacts -------------------------------------------------------------------------
    def list_artifacts(self, run: RunRecord) -> tuple[Artifact, ...]:
        """Every file of the run and of the MLflow 3 models it logged, with sizes.

        Through the artifact repository of the run's artifact URI: ``client.list_artifacts``
        fetches the run again on every call (one call per directory)."""
        files: list[Artifact] = []
        try:
            if run.artifact_uri:
                files.extend(_walk(self._artifact_repository(run.artifact_uri), None))
            for model_id in run.model_ids:
                model = self._client.get_logged_model(model_id)
                files.extend(_walk(self._artifact_repository(model.artifact_location), model_id))
        except Exception as exc:
            raise TrackingStoreError(f"run {run.run_id}: cannot list artifacts: {_short(exc)}") from None
        return tuple(files)

    def _artifact_repository(self, uri: str) -> Any:
        """MLflow's artifact repository for ``uri``, resolved against our tracking URI.

        mlflow-artifacts:/ URIs (a server proxying artifacts) resolve against the tracking URI,
        which is MLflow's global one (sqlite:///mlflow.db) unless we pass ours; MLflow before 3
        takes no ``tracking_uri`` and reads the global one, which we set for the call."""
        import inspect

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        if "tracking_uri" in inspect.signature(get_artifact_repository).parameters:
            return get_artifact_repository(uri, tracking_uri=self.uri)
        import mlflow

        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.uri)
        try:
            return get_artifact_repository(uri)
        finally:
            mlflow.set_tracking_uri(previous)

    # -- writes: only `mlrepro reproduce` calls these, never the audit -------------------------
    def create_run(self, experiment_id: str, run_name: str | None, tags: dict[str, str]) -> str:
        """A new RUNNING run that a re-executed training script logs into (via MLFLOW_RUN_ID)."""
        try:
            return str(self._client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id)
        except Exception as exc:
            raise TrackingStoreError(f"{redact(self.uri)}: cannot create a run: {_short(exc)}") from None

    def finish_run(self, run_id: str, status: str) -> None:
        """End a run the script left RUNNING (it crashed, or was killed at the timeout)."""
        try:
            if self._client.get_run(run_id).info.status == "RUNNING":
                self._client.set_terminated(run_id, status)
        except Exception as exc:
            raise TrackingStoreError(f"run {run_id}: cannot end it: {_short(exc)}") from None

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        try:
            items = [Param(k, v) for k, v in params.items()]
            for start in range(0, len(items), 100):  # log_batch takes at most 100 params
                self._client.log_batch(run_id, params=items[start : start + 100])
        except Exception as exc:
            raise TrackingStoreError(f"run {run_id}: cannot log params: {_short(exc)}") from None

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        try:
            self._client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        except Exception as exc:
            raise TrackingStoreError(f"run {run_id}: cannot set tags: {_short(exc)}") from None

    # -- registry --------------------------------------------------------------------------
    def iter_model_versions(self) -> Iterator[ModelVersionRecord]:
        try:
            for model in self._paged(self._client.search_registered_models, max_results=1000):
                aliases: dict[str, list[str]] = {}
                for alias, version in (getattr(model, "aliases", None) or {}).items():
                    aliases.setdefault(str(version), []).append(alias)
                # search_model_versions returns versions without aliases: they come from the model.
                for mv in self._paged(self._client.search_model_versions, filter_string=f"name = '{_quote(model.name)}'", max_results=1000):
                    yield _version_record(mv, aliases)
        except Exception as exc:
            raise TrackingStoreError(f"{redact(self.uri)}: cannot read the model registry: {_short(exc)}") from None

    # -- registry writes: only `mlrepro promote` calls these, never the audit ----------------
    def model_versions(self, name: str) -> list[ModelVersionRecord] | None:
        """Every version of one registered model, with its aliases; None when no model has
        that name."""
        try:
            try:
                model = self._client.get_registered_model(name)
            except Exception as exc:
                if _not_found(exc):
                    return None
                raise
            aliases: dict[str, list[str]] = {}
            # search_model_versions returns versions without aliases: they come from the model.
            for alias, version in (getattr(model, "aliases", None) or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            return [
                _version_record(mv, aliases)
                for mv in self._paged(self._client.search_model_versions, filter_string=f"name = '{_quote(name)}'", max_results=1000)
            ]
        except Exception as exc:
            raise TrackingStoreError(f"{redact(self.uri)}: cannot read registered model {name!r}: {_short(exc)}") from None

    def supports_stages(self) -> bool:
        """Can versions still move between the legacy stages? MLflow 3 keeps them (with a
        FutureWarning) in its own registries; Unity Catalog never had them, and a future
        client may drop the method."""
        registry = str(getattr(self._client, "_registry_uri", "") or self.uri)
        return hasattr(self._client, "transition_model_version_stage") and not registry.startswith("databricks-uc")

    def set_model_alias(self, name: str, alias: str, version: str) -> None:
        try:
            self._client.set_registered_model_alias(name, alias, version)
        except Exception as exc:
            raise TrackingStoreError(f"model {name} v{version}: cannot set alias @{alias}: {_short(exc)}") from None

    def transition_stage(self, name: str, version: str, stage: str, archive_existing: bool) -> None:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated, yet still served from
                self._client.transition_model_version_stage(name, version, stage, archive_existing_versions=archive_existing)
        except Exception as exc:
            raise TrackingStoreError(f"model {name} v{version}: cannot move to stage {stage}: {_short(exc)}") from None

    def set_model_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        try:
            for key, value in tags.items():  # the registry has no batch call for version tags
                self._client.set_model_version_tag(name, version, key, value)
        except Exception as exc:
            raise TrackingStoreError(f"model {name} v{version}: cannot set tags: {_short(exc)}") from None


def _version_record(mv: Any, aliases: dict[str, list[str]]) -> ModelVersionRecord:
    return ModelVersionRecord(
        name=mv.name,
        version=str(mv.version),
        run_id=mv.run_id or None,
        stage=mv.current_stage if mv.current_stage not in (None, "", "None") else None,
        aliases=tuple(sorted(aliases.get(str(mv.version), ()))),
        source=mv.source,
        status=mv.status,
        tags=dict(mv.tags or {}),
    )


def _not_found(exc: BaseException) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower()


@functools.lru_cache(maxsize=1)
def _name_words() -> tuple[frozenset[str], frozenset[str]]:
    try:
        from mlflow.utils import name_utils

        return frozenset(name_utils._GENERATOR_PREDICATES), frozenset(name_utils._GENERATOR_NOUNS)
    except (ImportError, AttributeError):  # a future MLflow that moved them: judge by shape alone
        return frozenset(), frozenset()


def _generated_name(name: str | None) -> bool:
    """Is this a name MLflow made up (``bustling-shrike-416``, from its own word lists)? A
    name of the same shape that people chose (``rf-depth-8``) is not."""
    parts = (name or "").split("-")
    if len(parts) != 3 or not parts[2].isdigit():
        return False
    predicates, nouns = _name_words()
    if not predicates:
        return parts[0].isalpha() and parts[1].isalpha()
    return parts[0] in predicates and parts[1] in nouns


def _walk(repository: Any, model_id: str | None, path: str | None = None) -> Iterator[Artifact]:
    for entry in repository.list_artifacts(path):
        if entry.is_dir:
            yield from _walk(repository, model_id, entry.path)
        else:
            yield Artifact(entry.path, entry.file_size, model_id)


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _short(exc: BaseException) -> str:
    # SQLAlchemy puts "(raised as a result of Query-invoked autoflush; ...)" before the cause.
    lines = [line for line in str(exc).strip().splitlines() if line.strip() and not line.startswith("(raised as a result of")]
    text = lines[0] if lines else type(exc).__name__
    # Messages embed whole request URLs ("API request to http://user:pw@host/... failed"):
    # redact before cutting, or the cut could leave half a password without its "@".
    return redact(text)[:300]
