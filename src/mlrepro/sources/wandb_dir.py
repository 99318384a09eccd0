"""W&B run directories (``wandb/run-*``, ``wandb/offline-run-*``), read from disk and mapped
to plain run records. No server, no network: what ``wandb sync`` would upload is all we read.

What is read from where:

* ``run-<id>.wandb``, the binary log: a LevelDB-style record log of the SDK's own protobuf
  ``Record`` messages (``wandb.proto.wandb_internal_pb2``). Current SDKs in offline mode keep
  the config, the summary, the git commit and remote, the program and its arguments, the
  start time and the exit code *only* here. No exit record: the process died (crashed run).
* ``files/config.yaml``, ``files/wandb-summary.json``, ``files/wandb-metadata.json``: written
  by older SDKs and by online runs. They fill what the log lacks (SDKs before the Go core keep
  the program, its arguments and the git facts only in ``wandb-metadata.json``) but never
  override it: an offline run of those SDKs leaves a ``wandb-summary.json`` written at start.
* The summary is W&B's: each metric's last logged value (history rows), overridden by values
  set on ``run.summary``, in log order (older SDKs log history rows without summary records).
* The log's artifact records: what ``run.log_artifact`` logged, with each file's size; a
  ``model`` artifact is a logged model.
* ``files/requirements.txt`` (the package list), ``files/diff.patch`` (uncommitted changes:
  present only when the tree was dirty, and only with ``save_code`` on in current SDKs),
  ``files/code/`` (the saved entry point).

The SDK's Python log reader (``wandb/sdk/internal/datastore.py``) is gone from current SDKs
(the Go core writes and reads the log) and older ones refuse to run outside W&B's internal
process, so the record framing is decoded here; the messages themselves are decoded with the
installed SDK's protobuf classes, which read logs written by older SDKs too (proto3 fields are
only ever added).

The facts are put on the tag keys the audit checks and the reproduce planner already read
(``mlflow.source.git.commit``, ``mlrepro.git.dirty``, ``mlrepro.command``, ...), so that no
check knows W&B exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlrepro import tags as tag_names
from mlrepro.records import FAILED, FINISHED, RUNNING, Artifact, RunRecord

# The log's framing (LevelDB's log format with W&B's own file header).
_HEADER = struct.Struct("<4sHB")  # ident ":W&B", magic 0xBEE1, version 0
_HEADER_IDENT, _HEADER_MAGIC, _HEADER_VERSION = b":W&B", 0xBEE1, 0
_RECORD = struct.Struct("<IHB")  # crc32 of type byte + data, data length, type
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
# crc32 of the type byte alone: the starting value of each record's checksum.
_TYPE_CRC = {kind: zlib.crc32(bytes([kind])) & 0xFFFFFFFF for kind in (_FULL, _FIRST, _MIDDLE, _LAST)}

RUN_DIR_PREFIXES = ("run-", "offline-run-")
DEFAULT_PROJECT = "uncategorized"  # what W&B calls the project of a run that names none

# Tag keys, as the capture plugin and MLflow spell them (audit/checks/provenance.py, reproduce/plan.py).
COMMIT_TAG = tag_names.MLFLOW_COMMIT
REPO_URL_TAG = tag_names.MLFLOW_REPO_URL
SOURCE_NAME_TAG = tag_names.MLFLOW_SOURCE_NAME
DIRTY_TAG = tag_names.GIT_DIRTY
COMMAND_TAG = tag_names.COMMAND
CWD_TAG = tag_names.GIT_CWD
FREEZE_TAG = tag_names.FREEZE
PYTHON_TAG = tag_names.PYTHON
PLATFORM_TAG = tag_names.PLATFORM
# W&B's own run facts that users choose (group, job type): user tags, like MLflow tags.
GROUP_TAG, JOB_TYPE_TAG = "wandb.group", "wandb.job_type"

PATCH_FILE = "diff.patch"
REQUIREMENTS_FILE = "requirements.txt"


class WandbDirError(Exception):
    """A W&B directory or run log that cannot be read (missing, corrupt, truncated, unknown run)."""


@dataclass
class _Facts:
    """What the log and the files say about one run, before it becomes a RunRecord."""

    run_id: str
    project: str | None = None
    display_name: str | None = None
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    job_type: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    start_time: datetime | None = None
    exit_code: int | None = None  # None: no exit record
    runtime_s: float | None = None
    last_seen: datetime | None = None  # the latest time a record carries (stats, summary _timestamp)
    git_commit: str | None = None
    git_remote: str | None = None
    program: str | None = None
    code_path: str | None = None  # the entry point relative to the git root
    code_path_local: str | None = None  # ... relative to the working directory
    args: list[str] = field(default_factory=list)
    python: str | None = None
    os: str | None = None
    sdk_version: str | None = None
    # Artifacts the run logged (run.log_artifact): (name, type, digest, [(path, size)]).
    logged: list[tuple[str, str, str, list[tuple[str, int | None]]]] = field(default_factory=list)


# --- finding run directories ------------------------------------------------------------------


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and path.name.startswith(RUN_DIR_PREFIXES) and any(path.glob("run-*.wandb"))


def find_run_dirs(path: Path) -> list[Path]:
    """The run directories at ``path``: the path itself when it is one, else its ``run-*`` and
    ``offline-run-*`` children (``latest-run`` is a symlink to one of them: skipped)."""
    if not path.exists():
        raise WandbDirError(f"{path}: no such W&B directory")
    if not path.is_dir():
        raise WandbDirError(f"{path}: not a directory (pass a wandb/ directory or one run directory)")
    if is_run_dir(path):
        return [path]
    found = [child for child in path.iterdir() if not child.is_symlink() and is_run_dir(child)]
    return sorted(found, key=lambda p: p.name.split("-run-")[-1] if "-run-" in p.name else p.name)


def run_id_of(run_dir: Path) -> str:
    """The run id, from the log's name ``run-<id>.wandb`` (the directory ends ``-<id>`` too)."""
    logs = sorted(run_dir.glob("run-*.wandb"))
    if logs:
        return logs[0].name[len("run-") : -len(".wandb")]
    return run_dir.name.rsplit("-", 1)[-1]


# --- the binary log ---------------------------------------------------------------------------


def log_records(path: Path) -> Iterator[bytes]:
    """The raw protobuf payloads of a ``.wandb`` log, in order. Raises WandbDirError on a
    wrong header, a checksum mismatch or a record cut short (except the crash signature: a
    split record whose rest would start a new block)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WandbDirError(f"{path}: cannot read the run log: {exc.strerror or exc}") from None
    if len(data) < _HEADER.size:
        raise WandbDirError(f"{path}: not a W&B run log (file too short)")
    ident, magic, version = _HEADER.unpack_from(data, 0)
    if ident != _HEADER_IDENT or magic != _HEADER_MAGIC:
        raise WandbDirError(f"{path}: not a W&B run log (bad header)")
    if version != _HEADER_VERSION:
        raise WandbDirError(f"{path}: unsupported W&B log version {version}")
    index = _HEADER.size
    pending: bytearray | None = None
    while index < len(data):
        left_in_block = _BLOCK - index % _BLOCK
        if left_in_block < _RECORD.size:
            index += left_in_block  # a block's tail too short for a record header is padding
            continue
        if index + _RECORD.size > len(data):
            raise WandbDirError(f"{path}: the run log is truncated (a record header is cut off at byte {index})")
        checksum, length, kind = _RECORD.unpack_from(data, index)
        if checksum == 0 and length == 0 and kind == 0:
            # Zeros where a record should start: preallocated space after the last write.
            if any(data[index:]):
                raise WandbDirError(f"{path}: the run log is corrupt (data after zero padding at byte {index})")
            break
        start = index + _RECORD.size
        if kind not in _TYPE_CRC:
            raise WandbDirError(f"{path}: the run log is corrupt (unknown record type {kind} at byte {index})")
        if start + length > len(data):
            raise WandbDirError(f"{path}: the run log is truncated (a record is cut off at byte {index})")
        payload = data[start : start + length]
        if zlib.crc32(payload, _TYPE_CRC[kind]) & 0xFFFFFFFF != checksum:
            raise WandbDirError(f"{path}: the run log is corrupt (checksum mismatch at byte {index})")
        index = start + length
        if kind == _FULL:
            if pending is not None:
                raise WandbDirError(f"{path}: the run log is corrupt (a split record is never finished)")
            yield payload
        elif kind == _FIRST:
            if pending is not None:
                raise WandbDirError(f"{path}: the run log is corrupt (a split record is never finished)")
            pending = bytearray(payload)
        else:
            if pending is None:
                raise WandbDirError(f"{path}: the run log is corrupt (a record continues nothing at byte {index})")
            pending.extend(payload)
            if kind == _LAST:
                yield bytes(pending)
                pending = None
    if pending is not None:
        if len(data) % _BLOCK == 0:
            # The SDK's core writes whole 32 KiB blocks: a process that dies leaves a log ending
            # on a block boundary, its last record split across a block never written. That
            # record is lost with the crash, the ones before it are whole.
            return
        raise WandbDirError(f"{path}: the run log is truncated (its last record is incomplete)")


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text  # W&B writes valid JSON; keep an odd value as the text it is


def _apply(target: dict[str, Any], key: str, nested: Sequence[str], value: Any, remove: bool = False) -> None:
    """One config or summary update (``key`` or the path ``nested_key``), as the SDK applies it."""
    path = list(nested) or [key]
    node = target
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            if remove:
                return
            child = node[part] = {}
        node = child
    if remove:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def _timestamp(ts: Any) -> datetime | None:
    if ts is None or not (ts.seconds or ts.nanos):
        return None
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=timezone.utc)


def _pb() -> Any:
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError as exc:
        raise WandbDirError("the wandb package is not installed: pip install 'mlrepro[wandb]'") from exc
    return wandb_internal_pb2


def _messages(path: Path) -> Iterator[Any]:
    """The log's records, decoded with the installed SDK's ``Record`` message."""
    pb = _pb()
    from google.protobuf.message import DecodeError

    for raw in log_records(path):
        record = pb.Record()
        try:
            record.ParseFromString(raw)
        except DecodeError:
            raise WandbDirError(f"{path}: the run log holds a record that is not a W&B message") from None
        yield record


def _read_log(path: Path, facts: _Facts) -> None:
    for record in _messages(path):
        kind = record.WhichOneof("record_type")
        if kind == "header":
            facts.sdk_version = record.header.version_info.producer.split("+", 1)[0] or None
        elif kind == "run":
            _read_run(record.run, facts)
        elif kind == "config":
            for item in record.config.update:
                _apply(facts.config, item.key, item.nested_key, _json(item.value_json))
            for item in record.config.remove:
                _apply(facts.config, item.key, item.nested_key, None, remove=True)
        elif kind == "summary":
            _read_summary(record.summary, facts)
        elif kind == "history":
            # W&B's default summary of a metric is its last logged value.
            for item in record.history.item:
                _apply(facts.summary, item.key, item.nested_key, _json(item.value_json))
        elif kind == "environment":
            _read_environment(record.environment, facts)
        elif kind == "artifact":
            artifact = record.artifact
            entries = [(entry.path, int(entry.size) if entry.size else None) for entry in artifact.manifest.contents]
            facts.logged.append((artifact.name, artifact.type, artifact.digest, entries))
        elif kind == "stats":
            _seen(facts, _timestamp(record.stats.timestamp))
        elif kind == "exit":
            facts.exit_code = int(record.exit.exit_code)
            facts.runtime_s = float(record.exit.runtime) or None  # 0 in offline runs of current SDKs


def _seen(facts: _Facts, when: datetime | None) -> None:
    if when is not None and (facts.last_seen is None or when > facts.last_seen):
        facts.last_seen = when


def _read_run(run: Any, facts: _Facts) -> None:
    # A resumed run logs its run record again: later values win, as on the server.
    facts.project = run.project or facts.project
    facts.display_name = run.display_name or facts.display_name
    facts.tags = list(run.tags) or facts.tags
    facts.group = run.run_group or facts.group
    facts.job_type = run.job_type or facts.job_type
    facts.start_time = facts.start_time or _timestamp(run.start_time)
    if run.git.commit:
        facts.git_commit = run.git.commit
    if run.git.remote_url:
        facts.git_remote = run.git.remote_url
    for item in run.config.update:
        _apply(facts.config, item.key, item.nested_key, _json(item.value_json))
    _read_summary(run.summary, facts)


def _read_summary(summary: Any, facts: _Facts) -> None:
    for item in summary.update:
        _apply(facts.summary, item.key, item.nested_key, _json(item.value_json))
    for item in summary.remove:
        _apply(facts.summary, item.key, item.nested_key, None, remove=True)


def _read_environment(env: Any, facts: _Facts) -> None:
    facts.program = env.program or facts.program
    facts.code_path = env.code_path or facts.code_path
    facts.code_path_local = env.code_path_local or facts.code_path_local
    facts.args = list(env.args) or facts.args
    facts.python = env.python or facts.python
    facts.os = env.os or facts.os
    if env.git.commit:
        facts.git_commit = env.git.commit
    if env.git.remote_url:
        facts.git_remote = env.git.remote_url
    facts.start_time = facts.start_time or _timestamp(env.started_at)


# --- the files older SDKs and online runs write -----------------------------------------------


def _read_files(files: Path, facts: _Facts) -> None:
    """What the files add to the log's facts: only what the log did not say."""
    metadata = _load_json(files / "wandb-metadata.json")
    if isinstance(metadata, Mapping):
        git = metadata.get("git") if isinstance(metadata.get("git"), Mapping) else {}
        facts.git_commit = facts.git_commit or _str(git.get("commit"))
        facts.git_remote = facts.git_remote or _str(git.get("remote"))
        facts.program = facts.program or _str(metadata.get("program"))
        facts.code_path = facts.code_path or _str(metadata.get("codePath"))
        facts.code_path_local = facts.code_path_local or _str(metadata.get("codePathLocal"))
        args = metadata.get("args")
        if not facts.args and isinstance(args, list) and all(isinstance(a, str) for a in args):
            facts.args = list(args)
        facts.python = facts.python or _str(metadata.get("python"))
        facts.os = facts.os or _str(metadata.get("os"))
        started = _str(metadata.get("startedAt"))
        if started and facts.start_time is None:
            try:
                parsed = datetime.fromisoformat(started.replace("Z", "+00:00"))
                facts.start_time = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            except ValueError:
                pass
    summary = _load_json(files / "wandb-summary.json")
    if isinstance(summary, Mapping):
        facts.summary = {**summary, **facts.summary}
    config_path = files / "config.yaml"
    if config_path.is_file():
        import yaml

        try:
            config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            raise WandbDirError(f"{config_path}: not readable YAML: {exc}") from None
        if isinstance(config, Mapping):
            # Each key is {"desc": ..., "value": ...}; a few writers store bare values.
            from_file = {
                str(key): (entry["value"] if isinstance(entry, Mapping) and "value" in entry else entry)
                for key, entry in config.items()
                if key != "wandb_version"
            }
            facts.config = {**from_file, **facts.config}


def _load_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise WandbDirError(f"{path}: not readable JSON: {exc}") from None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- mapping to a RunRecord -------------------------------------------------------------------


def _param_value(value: Any) -> str:
    """A config value as MLflow would log it (``str()``), containers as JSON."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Params from the config: nested dicts flattened with dots (``optimizer.lr``), as Hydra
    and MLflow's autologgers name them; W&B's own ``_wandb`` entry left out."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if not prefix and key.startswith("_wandb"):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            params.update(flatten_config(value, name + "."))
        else:
            params[name] = _param_value(value)
    return params


def summary_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Metrics from the summary: numbers only (W&B summaries also hold text, tables, media),
    without W&B's bookkeeping (``_step``, ``_runtime``, ``_timestamp``, ``_wandb``). Nested
    dicts are flattened with dots. Non-finite values come as the strings "NaN"/"Infinity"."""
    metrics: dict[str, float] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if not prefix and key.startswith("_"):
                continue
            name = f"{prefix}{key}"
            if isinstance(value, bool):
                continue  # a flag, not a measurement
            if isinstance(value, (int, float)):
                metrics[name] = float(value)
            elif isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"):
                metrics[name] = float(value.replace("Infinity", "inf"))
            elif isinstance(value, Mapping) and "_type" not in value:  # media and tables carry a _type
                walk(value, name + ".")

    walk(summary, "")
    return metrics


def _user_tags(labels: Sequence[str]) -> dict[str, str]:
    """W&B tags are labels. ``key:value`` and ``key=value`` become that tag (so that
    ``team:fraud`` satisfies a required ``team`` tag); a bare label becomes a tag of its own
    with the value ``true``."""
    tags: dict[str, str] = {}
    for label in labels:
        label = label.strip()
        if not label:
            continue
        cut = min((i for i in (label.find(":"), label.find("=")) if i > 0), default=-1)
        if cut > 0 and label[cut + 1 :].strip():
            tags[label[:cut].strip()] = label[cut + 1 :].strip()
        else:
            tags.setdefault(label, "true")
    return tags


def _working_dir(code_path: str | None, code_path_local: str | None) -> str | None:
    """The working directory relative to the git root: ``code_path`` is the script relative to
    the root, ``code_path_local`` relative to the working directory."""
    if not code_path or not code_path_local:
        return None
    root_path, local_path = Path(code_path).as_posix(), Path(code_path_local).as_posix()
    if local_path.startswith("../") or not root_path.endswith(local_path):
        return None
    prefix = root_path[: len(root_path) - len(local_path)].rstrip("/")
    return prefix or "."


def _started_from_name(name: str) -> datetime | None:
    """``offline-run-20261128_153759-<id>``: the start, in the local time of the machine that
    ran it (assumed to be this one's). For logs cut off before the run record was written: the
    SDK's core writes 32 KiB blocks, so a process killed in its first seconds leaves the header
    alone."""
    stamp = name.split("run-", 1)[-1].rsplit("-", 1)[0]
    try:
        return datetime.strptime(stamp, "%Y%m%d_%H%M%S").astimezone(timezone.utc)
    except ValueError:
        return None


def _files(files: Path) -> tuple[Artifact, ...]:
    found = []
    if files.is_dir():
        for dirpath, _dirnames, filenames in os.walk(files):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    size: int | None = path.stat().st_size
                except OSError:
                    size = None
                found.append(Artifact(path.relative_to(files).as_posix(), size))
    return tuple(sorted(found, key=lambda a: a.path))


def read_run(run_dir: Path) -> RunRecord:
    """One run directory as a RunRecord (``source="wandb"``, ``location`` the directory)."""
    run_dir = run_dir.resolve() if run_dir.exists() else run_dir
    if not run_dir.is_dir():
        raise WandbDirError(f"{run_dir}: no such W&B run directory")
    run_id = run_id_of(run_dir)
    log = run_dir / f"run-{run_id}.wandb"
    if not log.is_file():
        raise WandbDirError(f"{run_dir}: no run log run-{run_id}.wandb in this W&B run directory")
    facts = _Facts(run_id=run_id)
    _read_log(log, facts)
    files = run_dir / "files"
    _read_files(files, facts)
    if facts.start_time is None:
        facts.start_time = _started_from_name(run_dir.name)
    return _record(run_dir, facts, _files(files))


def _record(run_dir: Path, facts: _Facts, files: tuple[Artifact, ...]) -> RunRecord:
    tags = _user_tags(facts.tags)
    if facts.group:
        tags[GROUP_TAG] = facts.group
    if facts.job_type:
        tags[JOB_TYPE_TAG] = facts.job_type
    if facts.git_commit:
        tags[COMMIT_TAG] = facts.git_commit
    if facts.git_remote:
        tags[REPO_URL_TAG] = facts.git_remote
    if facts.program and not facts.program.startswith("<"):  # "<python with no main file>"
        tags[SOURCE_NAME_TAG] = facts.program
    by_path = {artifact.path: artifact for artifact in files}
    # Logged artifacts are the run's outputs, as MLflow run artifacts are; a "model" artifact
    # is a logged model (MLR706 asks whether anything gated it).
    model_ids = tuple(dict.fromkeys(f"{name}:{digest[:12]}" for name, kind, digest, _ in facts.logged if kind == "model"))
    outputs = tuple(
        Artifact(f"artifacts/{name}/{path}", size, f"{name}:{digest[:12]}" if kind == "model" else None)
        for name, kind, digest, entries in facts.logged
        for path, size in entries
    )
    patch = by_path.get(PATCH_FILE)
    if patch is not None and patch.size_bytes:
        tags[DIRTY_TAG] = "true"
    elif any(path.startswith("code/") for path in by_path) and facts.git_commit:
        # The SDK saved the code and compared it with the commit: it writes diff.patch only for a dirty tree.
        tags[DIRTY_TAG] = "false"
    if facts.code_path and facts.code_path.endswith(".py"):
        tags[COMMAND_TAG] = json.dumps([facts.code_path, *facts.args])
        workdir = _working_dir(facts.code_path, facts.code_path_local)
        if workdir is not None:
            tags[CWD_TAG] = workdir
    requirements = run_dir / "files" / REQUIREMENTS_FILE
    if requirements.is_file():
        tags[FREEZE_TAG] = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if facts.python:
        tags[PYTHON_TAG] = facts.python
    if facts.os:
        tags[PLATFORM_TAG] = facts.os
    if facts.exit_code is None:
        status = RUNNING  # no exit record: the process died, or is still running
    else:
        status = FINISHED if facts.exit_code == 0 else FAILED
    end_time = None
    if facts.exit_code is not None:
        stamp = facts.summary.get("_timestamp")
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            _seen(facts, datetime.fromtimestamp(stamp, tz=timezone.utc))
        if facts.start_time is not None and facts.runtime_s is not None:
            end_time = facts.start_time + timedelta(seconds=facts.runtime_s)
        else:
            end_time = facts.last_seen  # the last thing the run logged: close to its end
    project = facts.project or DEFAULT_PROJECT
    return RunRecord(
        run_id=facts.run_id,
        experiment_id=project,
        experiment_name=project,
        run_name=facts.display_name or None,
        status=status,
        start_time=facts.start_time,
        end_time=end_time,
        params=flatten_config(facts.config),
        metrics=summary_metrics(facts.summary),
        tags=tags,
        model_ids=model_ids,
        artifacts=files + outputs,
        artifact_uri=(run_dir / "files").as_uri(),
        source="wandb",
        location=str(run_dir),
    )


def read_history(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every numeric value the run logged with ``run.log``, per metric, as (step, value) in
    logging order (the step is W&B's ``_step``)."""
    history: dict[str, list[tuple[int, float]]] = {}
    for record in _messages(run_dir / f"run-{run_id_of(run_dir)}.wandb"):
        if record.WhichOneof("record_type") != "history":
            continue
        row: dict[str, Any] = {}
        for item in record.history.item:
            _apply(row, item.key, item.nested_key, _json(item.value_json))
        step = row.get("_step")
        step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else record.history.step.num
        for name, value in summary_metrics(row).items():
            history.setdefault(name, []).append((step, value))
    return history


# --- many directories -------------------------------------------------------------------------


class WandbDirs:
    """The runs under one or more W&B directories. Construct with :meth:`open`."""

    def __init__(self, run_dirs: Sequence[Path]) -> None:
        self.run_dirs = list(run_dirs)

    @classmethod
    def open(cls, paths: Sequence[Path], require_runs: bool = True) -> WandbDirs:
        """``require_runs``: a directory named on the command line must hold runs; the default
        ``./wandb`` may hold only logs."""
        dirs: list[Path] = []
        for path in paths:
            found = find_run_dirs(path)
            if not found and require_runs:
                raise WandbDirError(f"{path}: no W&B run directories (run-*/ or offline-run-*/ holding a run-<id>.wandb log)")
            dirs.extend(d for d in found if d.resolve() not in {x.resolve() for x in dirs})
        return cls(dirs)

    def iter_runs(self) -> Iterator[RunRecord]:
        for run_dir in self.run_dirs:
            yield read_run(run_dir)

    def find(self, run_id: str) -> Path:
        """The directory of run ``run_id``, or WandbDirError naming the directories searched."""
        for run_dir in self.run_dirs:
            if run_id_of(run_dir) == run_id:
                return run_dir
        raise WandbDirError(f"no W&B run {run_id} in {len(self.run_dirs)} run director{'y' if len(self.run_dirs) == 1 else 'ies'} searched")

    def get_run(self, run_id: str) -> RunRecord:
        return read_run(self.find(run_id))
