"""Big MLflow tracking stores for the audit benchmarks, bulk-inserted (see ``make_store.py``).

MLflow creates the schema (its SQL store migrates a new database when it first opens it) and
the experiments; runs, tags, params, metrics with their history, dataset inputs, logged models
and registry versions are then written straight into MLflow's tables in batches:
``executemany`` on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL (psycopg2). Through the
client the same store would take ~75 ms a run: a day for a million.

Every row has the shape MLflow itself writes (``runs.source_type`` ``UNKNOWN`` with the source
in tags, NaN stored as 0 with ``is_nan``, ±inf as the largest double, dataset inputs as
``datasets`` + ``inputs`` + ``input_tags``, MLflow 3 logged models linked as ``RUN_OUTPUT``),
so the client reads the store as one that training code filled. Each run is of one *kind*:
clean, or with one defect the audit looks for (``KIND_CODES``). The content is a function of
the seed (and, when appending, of how many runs the store already holds).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import operator
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

# What the audit (default policy, no repository, no artifact listing) must report on a run of
# each kind; kinds marked artifacts-only exist only when real artifact files are written.
KIND_CODES: dict[str, frozenset[str]] = {
    "clean": frozenset(),  # the mlrepro capture plugin's tags, seeded, data versioned
    "mlflow-only": frozenset(),  # clean without the capture plugin: MLflow's own git tags
    "project": frozenset(),  # launched by `mlflow run` from a git URL, environment from the project
    "notebook": frozenset(),  # Jupyter: MLflow records the kernel launcher, the plugin the commit
    "sweep-parent": frozenset(),  # a hyperparameter sweep's parent: its children carry the seeds
    "sweep-child": frozenset(),
    "deleted": frozenset(),  # lifecycle_stage deleted: search_runs leaves it out
    "no-seed": frozenset({"MLR506"}),
    "seed-none": frozenset({"MLR506"}),  # random_state=None, as sklearn autolog logs it
    "dirty-captured": frozenset({"MLR504"}),  # diff kept in mlrepro.git.diff.* tags
    "dirty-stash": frozenset({"MLR504"}),  # diff kept as a stash ref
    "dirty-lost": frozenset({"MLR504"}),
    "missing-tags": frozenset({"MLR701"}),
    "no-commit": frozenset({"MLR501"}),
    "bad-commit": frozenset({"MLR502"}),
    "generic-name": frozenset({"MLR702"}),
    "generated-name": frozenset({"MLR702"}),  # adjective-animal-123 from MLflow's own word lists
    "failed": frozenset({"MLR708"}),
    "killed": frozenset({"MLR708"}),
    "stale-running": frozenset({"MLR707"}),
    "nan-metric": frozenset({"MLR710"}),
    "inf-metric": frozenset({"MLR710"}),
    "no-data-version": frozenset({"MLR601", "MLR701"}),  # dataset_version is also a required tag
    "no-digest": frozenset({"MLR602"}),
    "rerun": frozenset({"MLR703"}),  # same params and user tags as an earlier run, other metrics
    "model-no-metrics": frozenset({"MLR706"}),
    "diverged": frozenset({"MLR901"}),  # a verdict `mlrepro reproduce --record` left
    "not-reproduced": frozenset({"MLR902"}),
    "big-artifact": frozenset({"MLR704"}),  # artifacts-only
    "big-run": frozenset({"MLR704", "MLR705"}),  # artifacts-only
}
ARTIFACT_KINDS = frozenset({"big-artifact", "big-run"})
CLEAN_KINDS = frozenset(kind for kind, codes in KIND_CODES.items() if not codes) - {"deleted"}

# Relative frequency of each kind of *event*; a sweep is one event of a parent and 3-12 children.
_WEIGHTS: dict[str, float] = {
    "clean": 40, "mlflow-only": 14, "project": 3, "notebook": 3, "sweep": 2.5, "deleted": 2,
    "no-seed": 6, "seed-none": 2, "dirty-captured": 3, "dirty-stash": 1, "dirty-lost": 3,
    "missing-tags": 6, "no-commit": 4, "bad-commit": 0.5, "generic-name": 3, "generated-name": 4,
    "failed": 3, "killed": 1, "stale-running": 1, "nan-metric": 1, "inf-metric": 0.3,
    "no-data-version": 3, "no-digest": 1, "rerun": 2, "model-no-metrics": 0.5, "diverged": 0.3,
    "not-reproduced": 0.3, "big-artifact": 0.5, "big-run": 0.2,
}

DEFAULT_START = datetime(2025, 1, 1, tzinfo=timezone.utc)
MIB = 1024 * 1024
NAN_STORED = 0.0  # MLflow's SQL store keeps NaN as value 0 with is_nan true
INF_STORED = 1.7976931348623157e308  # and ±inf as the largest double

TABLES: dict[str, tuple[str, ...]] = {
    "runs": ("run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id", "status", "start_time",
             "end_time", "deleted_time", "source_version", "lifecycle_stage", "artifact_uri", "experiment_id"),
    "tags": ("key", "value", "run_uuid"),
    "params": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "run_uuid", "step", "is_nan"),
    "latest_metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
    "datasets": ("dataset_uuid", "experiment_id", "name", "digest", "dataset_source_type", "dataset_source",
                 "dataset_schema", "dataset_profile"),
    "inputs": ("input_uuid", "source_type", "source_id", "destination_type", "destination_id", "step"),
    "input_tags": ("input_uuid", "name", "value"),
    "logged_models": ("model_id", "experiment_id", "name", "artifact_location", "creation_timestamp_ms",
                      "last_updated_timestamp_ms", "status", "lifecycle_stage", "model_type", "source_run_id",
                      "status_message"),
}
# Each table's primary key, as column positions: a batch sorted by it goes into the B-tree
# page after page instead of at random places (run ids are random).
_KEYS: dict[str, tuple[int, ...]] = {
    "runs": (0,), "tags": (0, 2), "params": (0, 2), "metrics": (0, 2, 4, 3), "latest_metrics": (0, 5),
    "inputs": (1, 2, 3, 4), "input_tags": (0, 1), "logged_models": (0,), "datasets": (1, 2, 3),
}
# Parents before children: PostgreSQL checks the foreign keys row by row (on an append).
_ORDER = ("datasets", "runs", "logged_models", "tags", "params", "metrics", "latest_metrics", "inputs", "input_tags")


class GenerationError(Exception):
    """The store cannot be generated (it exists, an unsupported URI, a database error)."""


# -- options and results -----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    uri: str
    runs: int
    experiments: int = 20
    seed: int = 0
    artifacts: Path | None = None  # write real files for a fraction of runs under this directory
    artifact_root: str | None = None  # where artifact URIs point (no files written); default ./mlartifacts
    artifact_fraction: float = 0.1
    start: datetime = DEFAULT_START  # the first run's start time
    interval_s: float = 60.0  # between two runs' starts
    max_steps: int = 10  # metric history: epochs logged per loss curve, at most
    batch_runs: int = 5000
    append: bool = False  # add runs to a store that holds some already


@dataclass
class ExpectedRun:
    """What the client must read back for one run (a sample is kept, not every run)."""

    run_id: str
    experiment_id: str
    kind: str
    name: str
    status: str
    deleted: bool
    start_time: int
    end_time: int | None
    artifact_uri: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]  # latest values as stored (NaN as nan, inf as the largest double)
    history: dict[str, list[tuple[int, float]]]  # (step, value) of every logged metric
    datasets: list[tuple[str, str, str]]  # (name, digest, context)
    model_ids: list[str]
    artifact_files: dict[str, int] = field(default_factory=dict)  # path -> size, with --artifacts


@dataclass
class Summary:
    uri: str
    runs: int  # generated now
    active_before: int = 0  # active runs the store held already (--append)
    seconds: float = 0.0
    write_seconds: float = 0.0  # of which inserting and committing (the rest: making rows, MLflow's migrations)
    index_seconds: float = 0.0  # and building the indexes after the load
    vacuum_seconds: float = 0.0  # and PostgreSQL's VACUUM ANALYZE
    server_cpu_seconds: float | None = None  # CPU of the PostgreSQL server process (local servers)
    rows: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    experiments: dict[str, str] = field(default_factory=dict)  # name -> id
    sample: list[ExpectedRun] = field(default_factory=list)
    rerun_sources: set[str] = field(default_factory=set)  # runs a `rerun` copied: MLR703 too
    versions: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)  # (model, version) -> codes
    artifact_files: int = 0
    artifact_bytes: int = 0  # apparent sizes (large files are sparse)

    @property
    def deleted(self) -> int:
        return self.kinds["deleted"]


# -- the content: experiments, datasets, runs ----------------------------------------------------

_DOMAINS = ("churn", "fraud", "ranking", "forecast", "ctr", "credit-risk", "anomaly", "recsys", "intent",
            "defects", "pricing", "ltv", "triage", "demand", "spam")
_TEAMS = ("growth", "risk", "search", "platform", "ml-core")
_USERS = ("alice", "bob", "chen", "dara", "emeka", "farah", "gosia", "hiro", "ines", "jon", "kofi", "lena",
          "mateo", "nadia", "oskar", "priya", "quinn", "rahul", "sven", "tomoko", "ci-bot")
_PURPOSES = ("baseline", "tuning", "ablation", "retrain", "feature-test", "release-candidate")
_GENERIC = ("test", "run", "tmp", "debug", "final2", "new run 3", "test_2", "trial-7", "asdf", "untitled")
_PYTHONS = ("CPython 3.10.14", "CPython 3.11.7", "CPython 3.11.9", "CPython 3.12.4")
_PLATFORMS = ("Linux-5.15.0-105-generic-x86_64-with-glibc2.35", "Linux-6.8.0-45-generic-x86_64-with-glibc2.39",
              "macOS-14.5-arm64-arm-64bit")
_CPUS = ("AMD EPYC 7B13", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Apple M2 Pro")


def _loguniform(lo: float, hi: float) -> Callable[[random.Random], str]:
    return lambda r: f"{math.exp(r.uniform(math.log(lo), math.log(hi))):.4g}"


def _ints(lo: int, hi: int) -> Callable[[random.Random], str]:
    return lambda r: str(r.randint(lo, hi))


def _choice(*values: str) -> Callable[[random.Random], str]:
    return lambda r: r.choice(values)


def _uniform(lo: float, hi: float) -> Callable[[random.Random], str]:
    return lambda r: f"{r.uniform(lo, hi):.3f}"


@dataclass(frozen=True)
class _Family:
    name: str  # the model_type tag
    short: str
    seed_param: str
    params: tuple[tuple[str, Callable[[random.Random], str]], ...]
    epochs: bool  # logs loss curves (history) rather than one final value
    autolog: str | None = None


_FAMILIES = (
    _Family("xgboost", "xgb", "seed", (
        ("learning_rate", _loguniform(0.005, 0.3)), ("max_depth", _ints(3, 12)), ("n_estimators", _ints(100, 2000)),
        ("subsample", _uniform(0.5, 1.0)), ("colsample_bytree", _uniform(0.4, 1.0)), ("min_child_weight", _ints(1, 20)),
        ("gamma", _uniform(0, 5)), ("reg_lambda", _loguniform(0.01, 10)), ("reg_alpha", _loguniform(0.001, 1)),
        ("objective", _choice("binary:logistic", "reg:squarederror")), ("tree_method", _choice("hist", "approx")),
        ("early_stopping_rounds", _ints(10, 100)),
    ), epochs=True, autolog="xgboost"),
    _Family("random_forest", "rf", "random_state", (
        ("n_estimators", _ints(50, 1000)), ("max_depth", _ints(4, 40)), ("min_samples_split", _ints(2, 20)),
        ("min_samples_leaf", _ints(1, 10)), ("max_features", _choice("sqrt", "log2", "0.5")),
        ("bootstrap", _choice("True", "False")), ("criterion", _choice("gini", "entropy", "log_loss")),
        ("class_weight", _choice("balanced", "None")), ("n_jobs", _choice("-1", "8")), ("ccp_alpha", _loguniform(1e-5, 1e-2)),
    ), epochs=False, autolog="sklearn"),
    _Family("lightgbm", "lgbm", "random_state", (
        ("learning_rate", _loguniform(0.005, 0.3)), ("num_leaves", _ints(15, 255)), ("max_depth", _ints(-1, 16)),
        ("n_estimators", _ints(100, 3000)), ("feature_fraction", _uniform(0.4, 1.0)),
        ("bagging_fraction", _uniform(0.5, 1.0)), ("bagging_freq", _ints(0, 10)), ("lambda_l1", _loguniform(1e-4, 10)),
        ("lambda_l2", _loguniform(1e-4, 10)), ("min_data_in_leaf", _ints(5, 200)), ("objective", _choice("binary", "regression")),
    ), epochs=True, autolog="lightgbm"),
    _Family("mlp", "mlp", "seed", (
        ("lr", _loguniform(1e-5, 1e-2)), ("batch_size", _choice("64", "128", "256", "512")), ("epochs", _ints(5, 60)),
        ("optimizer", _choice("adam", "adamw", "sgd")), ("weight_decay", _loguniform(1e-6, 1e-2)),
        ("dropout", _uniform(0.0, 0.5)), ("hidden_size", _choice("128", "256", "512", "1024")), ("num_layers", _ints(2, 8)),
        ("scheduler", _choice("cosine", "step", "onecycle")), ("warmup_steps", _ints(0, 2000)),
        ("grad_clip", _choice("0.5", "1.0", "5.0")), ("precision", _choice("32", "16-mixed", "bf16-mixed")),
    ), epochs=True),
    _Family("transformer", "bert", "seed", (
        ("learning_rate", _loguniform(1e-6, 1e-4)), ("per_device_train_batch_size", _choice("8", "16", "32")),
        ("num_train_epochs", _ints(1, 10)), ("warmup_ratio", _uniform(0.0, 0.2)), ("weight_decay", _loguniform(1e-4, 0.1)),
        ("model_name_or_path", _choice("bert-base-uncased", "distilroberta-base", "microsoft/deberta-v3-small")),
        ("max_seq_length", _choice("128", "256", "512")), ("gradient_accumulation_steps", _choice("1", "2", "4")),
        ("fp16", _choice("True", "False")), ("lr_scheduler_type", _choice("linear", "cosine")),
        ("label_smoothing_factor", _uniform(0.0, 0.2)),
    ), epochs=True, autolog="transformers"),
)
_EXTRA_PARAMS: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    ("target", _choice("label", "converted", "is_fraud", "y")), ("n_features", _ints(12, 600)),
    ("cv_folds", _choice("3", "5", "10")), ("val_split", _choice("0.1", "0.2", "0.25")),
    ("train_rows", _ints(10_000, 5_000_000)), ("config", _choice("configs/base.yaml", "configs/large.yaml", "configs/fast.yaml")),
    ("feature_selection", _choice("none", "mutual_info", "boruta")), ("imbalance", _choice("none", "smote", "class_weight")),
)
_FINAL_METRICS = ("val_auc", "val_accuracy", "val_f1", "val_precision", "val_recall", "test_auc", "rmse", "mae")
_EPOCH_METRICS = ("val_loss", "train_loss")


@dataclass
class _Dataset:
    uuid: str
    name: str
    digest: str
    source_type: str
    source: str
    version: str  # the dataset_version tag of a run that trains on it
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class _Rerunnable:
    """A finished clean run that a later `rerun` repeats: same params and user tags, same metric keys."""

    run_id: str
    params: dict[str, str]
    user_tags: dict[str, str]
    metric_keys: tuple[str, ...]


@dataclass
class _Experiment:
    experiment_id: str
    name: str
    location: str  # artifact_location
    domain: str
    family: _Family
    team: str
    repo: str
    commits: list[str] = field(default_factory=list)
    freezes: list[str] = field(default_factory=list)
    datasets: list[_Dataset] = field(default_factory=list)  # training versions, then evaluation, then one without digest
    last_finished: _Rerunnable | None = None


def experiment_name(index: int) -> str:
    """Names depend on the index only, so an append (any seed) reuses the same experiments."""
    domain = _DOMAINS[index % len(_DOMAINS)]
    family = _FAMILIES[(index * 2 + index // len(_DOMAINS)) % len(_FAMILIES)]
    suffix = f"-{index // len(_DOMAINS) + 1}" if index >= len(_DOMAINS) else ""
    return f"{domain}-{family.short}{suffix}"


def _family(index: int) -> _Family:
    return _FAMILIES[(index * 2 + index // len(_DOMAINS)) % len(_FAMILIES)]


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _dataset_pool(rng: random.Random, exp: _Experiment) -> list[_Dataset]:
    pool: list[_Dataset] = []
    columns = [{"type": rng.choice(("double", "long", "string")), "name": f"f{i}", "required": True} for i in range(rng.randint(6, 14))]
    for version in range(1, rng.randint(3, 6) + 1):
        kind = rng.random()
        if kind < 0.5:
            source_type, source = "s3", {"uri": f"s3://data-lake/{exp.domain}/v{version}/train.parquet"}
        elif kind < 0.8:
            source_type, source = "local", {"uri": f"data/{exp.domain}/train_v{version}.parquet"}
        else:
            source_type, source = "delta_table", {"path": f"dbfs:/mnt/lake/{exp.domain}/train", "delta_table_version": version}
        pool.append(_Dataset(_hex(rng, 128), f"{exp.domain}-train", _hex(rng, 32), source_type, json.dumps(source), f"v{version}"))
    pool.append(_Dataset(_hex(rng, 128), f"{exp.domain}-eval", _hex(rng, 32), "s3",
                         json.dumps({"uri": f"s3://data-lake/{exp.domain}/holdout.parquet"}), "holdout"))
    # A dataset logged from an in-memory frame that MLflow could not hash (digest empty): MLR602.
    pool.append(_Dataset(_hex(rng, 128), f"{exp.domain}-adhoc", "", "code", json.dumps({"mlflow_source_type": "code"}), "adhoc"))
    for ds in pool:
        rows = rng.randint(10_000, 2_000_000)
        ds.schema = json.dumps({"mlflow_colspec": columns})
        ds.profile = json.dumps({"num_rows": rows, "num_elements": rows * len(columns)})
    return pool


def _patch(rng: random.Random, repo: str) -> bytes:
    lr = f"{rng.uniform(0.001, 0.1):.4f}"
    return (
        f"diff --git a/train.py b/train.py\nindex 3f1c2aa..9e0b7d1 100644\n--- a/train.py\n+++ b/train.py\n"
        f"@@ -41,7 +41,7 @@ def main():\n     # {repo}\n-    lr = 0.01\n+    lr = {lr}\n     model = build(lr)\n"
    ).encode()


@dataclass
class _Run:
    run_id: str
    exp: _Experiment
    kind: str
    name: str
    status: str
    start: int
    end: int | None
    user: str
    tags: dict[str, str]
    params: dict[str, str]
    history: dict[str, list[tuple[int, float, int]]]  # key -> (step, value, timestamp)
    datasets: list[tuple[_Dataset, str]]  # (dataset, context)
    model_ids: list[str]
    deleted_time: int | None = None
    rerun_of: str | None = None  # the run a `rerun` repeats
    files: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # path -> (size, head): real files with --artifacts
    model_files: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    @property
    def artifact_uri(self) -> str:
        return f"{self.exp.location}/{self.run_id}/artifacts"

    def model_location(self, model_id: str) -> str:
        return f"{self.exp.location}/models/{model_id}/artifacts"


class _Factory:
    """Runs in start order, one event (a run, or a sweep of runs) at a time."""

    def __init__(self, rng: random.Random, experiments: list[_Experiment], options: Options, first_index: int) -> None:
        self.rng = rng
        self.experiments = experiments
        self.options = options
        self.index = first_index  # time slot of the next run
        self.start_ms = int(options.start.timestamp() * 1000)
        self.interval_ms = max(1, int(options.interval_s * 1000))
        kinds = [k for k in _WEIGHTS if options.artifacts is not None or k not in ARTIFACT_KINDS]
        self.kinds = kinds
        self.weights = [_WEIGHTS[k] for k in kinds]
        # Every kind early on (after two clean runs a rerun can copy), so that even a small
        # store has each; then the weights.
        opening = [k for k in kinds if k != "clean"]
        rng.shuffle(opening)
        self.opening = ["clean", "clean", *opening]
        try:
            from mlflow.utils import name_utils

            self.name_words = ([w.lower() for w in name_utils._GENERATOR_PREDICATES], [w.lower() for w in name_utils._GENERATOR_NOUNS])
        except (ImportError, AttributeError):  # a future MLflow that moved them
            self.name_words = (["bustling", "clean", "gentle"], ["shrike", "otter", "hawk"])

    def _slot(self) -> int:
        start = self.start_ms + self.index * self.interval_ms + self.rng.randrange(max(1, self.interval_ms // 2))
        self.index += 1
        return start

    def events(self) -> Iterator[list[_Run]]:
        rng = self.rng
        while True:
            kind = self.opening.pop(0) if self.opening else rng.choices(self.kinds, self.weights)[0]
            if kind == "sweep":
                yield self._sweep()
                continue
            exp = rng.choice(self.experiments)
            if kind == "rerun":
                sources = [e for e in self.experiments if e.last_finished is not None]
                if not sources:
                    kind = "clean"
                else:
                    exp = rng.choice(sources)
            yield [self._run(exp, kind, self._slot())]

    # -- one run ------------------------------------------------------------------------------
    def _run(self, exp: _Experiment, kind: str, start: int, parent: _Run | None = None, params: dict[str, str] | None = None) -> _Run:
        rng = self.rng
        user = rng.choice(_USERS)
        run_id = _hex(rng, 128)
        status = {"failed": "FAILED", "killed": "KILLED", "stale-running": "RUNNING"}.get(kind, "FINISHED")
        duration = rng.randint(60_000, 3 * 3_600_000)
        end = None if status == "RUNNING" else start + duration
        commit = rng.choice(exp.commits)
        branch = rng.choice(("main", "main", f"{user}/exp"))
        # The capture plugin's tags: not on `mlflow run` projects (the launcher creates the run)
        # nor on runs of teams without the plugin; problem runs come with and without them.
        captured = kind not in ("mlflow-only", "project", "no-commit", "bad-commit")  # the plugin records HEAD: always a hash
        if kind in ("no-seed", "seed-none", "missing-tags", "generic-name", "generated-name", "failed", "killed",
                    "stale-running", "nan-metric", "inf-metric", "no-data-version", "no-digest", "model-no-metrics",
                    "deleted", "big-artifact", "big-run"):
            captured = rng.random() < 0.6  # defects happen with and without the plugin
        family = exp.family
        rerun_of = exp.last_finished if kind == "rerun" else None

        # params: 5-20, the seed first unless the run did not record one
        if rerun_of is not None:
            params = dict(rerun_of.params)
        elif params is None:
            params = {}
            if kind == "seed-none":
                params[family.seed_param] = "None"
            elif kind != "no-seed":
                params[family.seed_param] = str(rng.choice((42, 0, 1, 7, 1234, 2024)) if rng.random() < 0.5 else rng.randrange(2**31))
            wanted = rng.randint(5, 20)
            for key, value in (*family.params, *_EXTRA_PARAMS):
                if len(params) >= wanted:
                    break
                params.setdefault(key, value(rng))

        # user tags: the five the default policy requires
        dataset_version = rng.choice([d for d in exp.datasets if d.version.startswith("v")])
        user_tags = {
            "model_type": family.name, "dataset_version": dataset_version.version,
            "feature_set": f"fs-{rng.randint(1, 12):02d}", "team": exp.team, "purpose": rng.choice(_PURPOSES),
        }
        if rerun_of is not None:
            user_tags = dict(rerun_of.user_tags)
            dataset_version = next((d for d in exp.datasets if d.version == user_tags.get("dataset_version")), dataset_version)
        if kind == "missing-tags":
            for key in rng.sample(("model_type", "feature_set", "team", "purpose"), rng.randint(1, 3)):
                if rng.random() < 0.7:
                    del user_tags[key]
                else:
                    user_tags[key] = ""  # present but empty: also missing
        if kind == "no-data-version":
            del user_tags["dataset_version"]

        tags: dict[str, str] = {**user_tags, "mlflow.user": user}
        path = f"/home/{user}/src/{exp.repo}"
        script = rng.choice(("train.py", "src/train.py", f"pipelines/{exp.domain}/train.py"))
        if kind == "notebook":
            tags["mlflow.source.name"] = f"/home/{user}/.venv/lib/python3.11/site-packages/ipykernel_launcher.py"
            tags["mlflow.source.type"] = "LOCAL"
        elif kind == "project":
            tags.update({
                "mlflow.source.name": f"https://github.com/acme/{exp.repo}#training",
                "mlflow.source.type": "PROJECT", "mlflow.project.entryPoint": "main", "mlflow.project.env": "virtualenv",
                "mlflow.project.backend": "local", "mlflow.source.git.commit": commit,
                "mlflow.source.git.repoURL": f"https://github.com/acme/{exp.repo}", "mlflow.gitRepoURL": f"https://github.com/acme/{exp.repo}",
            })
        else:
            tags["mlflow.source.name"] = f"{path}/{script}"
            tags["mlflow.source.type"] = "LOCAL"
            if kind != "no-commit":
                tags.update({
                    "mlflow.source.git.commit": commit, "mlflow.source.git.branch": branch,
                    "mlflow.source.git.repoURL": f"git@github.com:acme/{exp.repo}.git", "mlflow.gitRepoURL": f"git@github.com:acme/{exp.repo}.git",
                })
        if kind == "bad-commit":
            tags["mlflow.source.git.commit"] = rng.choice(("main", "HEAD", "unknown", "v2.3.1"))
        if family.autolog and rng.random() < 0.4:
            tags["mlflow.autologging"] = family.autolog
        if captured:
            tags.update(self._capture_tags(exp, kind, commit, branch, user, path, script, params))
        if parent is not None:
            tags["mlflow.parentRunId"] = parent.run_id

        # the name
        if kind == "generic-name":
            name = rng.choice(_GENERIC)
        elif kind == "generated-name":
            name = f"{rng.choice(self.name_words[0])}-{rng.choice(self.name_words[1])}-{rng.randint(0, 999)}"
        else:
            shown = [k for k in params if k != family.seed_param][:2]
            name = "-".join([family.short, *(f"{k.split('_')[0][:5]}{params[k]}" for k in shown)]) or family.short
        tags["mlflow.runName"] = name

        if kind == "diverged" or kind == "not-reproduced":
            tags.update({
                "mlrepro.reproduced.verdict": "diverged" if kind == "diverged" else "failed",
                "mlrepro.reproduced.run_ids": _hex(rng, 128),
                "mlrepro.reproduced.date": datetime.fromtimestamp((end or start) / 1000 + 86400, tz=timezone.utc).date().isoformat(),
            })

        history = self._metrics(family, kind, status, start, end or start + duration, rerun_of.metric_keys if rerun_of else None)
        datasets: list[tuple[_Dataset, str]] = []
        if kind == "no-digest":
            datasets.append((exp.datasets[-1], "training"))
        elif kind != "no-data-version" and rng.random() < 0.7:
            datasets.append((dataset_version, "training"))
            if rng.random() < 0.5:
                datasets.append((exp.datasets[-2], "evaluation"))

        model_ids: list[str] = []
        if status == "FINISHED" and (kind == "model-no-metrics" or rng.random() < 0.2):
            if rng.random() < 0.75:
                model_ids.append("m-" + _hex(rng, 128))  # MLflow 3 logged model
            else:
                tags["mlflow.log-model.history"] = json.dumps([{
                    "run_id": run_id, "artifact_path": "model", "utc_time_created": datetime.fromtimestamp((end or start) / 1000, tz=timezone.utc).isoformat(" "),
                    "flavors": {"python_function": {"loader_module": f"mlflow.{family.autolog or 'pytorch'}"}}, "model_uuid": _hex(rng, 128),
                    "mlflow_version": "2.16.2",
                }])

        run = _Run(run_id, exp, kind, name, status, start, end, user, tags, params, history, datasets, model_ids,
                   rerun_of=rerun_of.run_id if rerun_of else None)
        if kind == "deleted":
            run.deleted_time = (end or start) + rng.randint(1, 30) * 86_400_000
        if self.options.artifacts is not None and (kind in ARTIFACT_KINDS or rng.random() < self.options.artifact_fraction):
            self._files(run, kind)
        if status == "FINISHED" and kind in ("clean", "mlflow-only") and parent is None:
            exp.last_finished = _Rerunnable(run_id, params, user_tags, tuple(history))
        return run

    def _capture_tags(self, exp: _Experiment, kind: str, commit: str, branch: str, user: str, path: str, script: str,
                      params: dict[str, str]) -> dict[str, str]:
        rng = self.rng
        threads = rng.choice(("unset", "unset", "8", "16"))
        tags = {
            "mlrepro.git.commit": commit, "mlrepro.git.branch": branch,
            "mlrepro.git.dirty": "false", "mlrepro.git.remote_contains_commit": "true", "mlrepro.git.cwd": ".",
            "mlrepro.command": json.dumps([script, "--config", params.get("config", "configs/base.yaml")]),
            "mlrepro.cwd": path, "mlrepro.python": rng.choice(_PYTHONS), "mlrepro.platform": rng.choice(_PLATFORMS),
            "mlrepro.cpu": rng.choice(_CPUS), "mlrepro.pip_freeze_sha256": rng.choice(exp.freezes),
            "mlrepro.pythonhashseed": rng.choice(("random", "random", "0")), "mlrepro.run_by": user,
            "mlrepro.capture_version": "0.1.0", "mlrepro.threadpool": json.dumps(
                [{"user_api": "blas", "internal_api": "openblas", "num_threads": 8, "version": "0.3.27"}] if rng.random() < 0.7 else []),
            **{f"mlrepro.threads.{v}": threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        }
        seed = next((v for k, v in params.items() if k in ("seed", "random_state")), None)
        if seed not in (None, "None") and rng.random() < 0.3:
            tags["mlrepro.seed"] = seed  # seed_everything ran
        if kind != "no-data-version" and rng.random() < 0.1:  # a recorded DVC md5 is a data version
            tags[f"mlrepro.dvc.data/{exp.domain}/train.parquet"] = _hex(rng, 128)
        if kind.startswith("dirty"):
            tags["mlrepro.git.dirty"] = "true"
            tags["mlrepro.git.untracked"] = json.dumps(rng.choice(([], ["notes.md"], ["scratch/"])))
        if kind == "dirty-captured":
            patch = _patch(rng, exp.repo)
            tags.update({
                "mlrepro.git.diff_sha256": hashlib.sha256(patch).hexdigest(), "mlrepro.git.diff_bytes": str(len(patch)),
                "mlrepro.git.diff.0": base64.b64encode(zlib.compress(patch)).decode("ascii"), "mlrepro.git.diff_parts": "1",
            })
        elif kind == "dirty-stash":
            tags["mlrepro.git.stash_ref"] = f"refs/mlrepro/{_hex(self.rng, 160)}"
        return tags

    def _metrics(self, family: _Family, kind: str, status: str, start: int, end: int,
                 keys: Sequence[str] | None = None) -> dict[str, list[tuple[int, float, int]]]:
        rng = self.rng
        if kind == "model-no-metrics":
            return {}
        if keys is None:
            count = rng.randint(2, 6)
            finals = list(_FINAL_METRICS)
            rng.shuffle(finals)
            keys = [*(_EPOCH_METRICS if family.epochs else ()), *finals][:count]
        steps = rng.randint(1, max(1, self.options.max_steps))
        partial = status != "FINISHED"
        if partial:
            steps = max(1, steps // 2)
        span = max(1, end - start)
        history: dict[str, list[tuple[int, float, int]]] = {}
        quality = rng.uniform(0.6, 0.97)
        for key in keys:
            if key in _EPOCH_METRICS:
                base = rng.uniform(0.3, 1.2)
                history[key] = [
                    (step, round(base * math.exp(-0.25 * step) + rng.uniform(0, 0.02), 6), start + (step + 1) * span // (steps + 1))
                    for step in range(steps)
                ]
            elif not partial:  # a run that died never logged its final evaluation
                value = rng.uniform(0.05, 3.0) if key in ("rmse", "mae") else min(0.999, quality + rng.uniform(-0.05, 0.03))
                history[key] = [(0, round(value, 6), end)]
        if not history:  # a partial run of a family without curves still logged its loss so far
            history["train_loss"] = [(0, round(rng.uniform(0.3, 1.2), 6), start + span // 2)]
        if kind in ("nan-metric", "inf-metric"):
            key = next(iter(history))
            step, _, ts = history[key][-1]
            history[key].append((step + 1, math.nan if kind == "nan-metric" else math.inf, ts + 1000))
        return history

    def _files(self, run: _Run, kind: str) -> None:
        rng = self.rng
        files = run.files
        files["model/MLmodel"] = (0, f"artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\nrun_id: {run.run_id}\n".encode())
        files["model/model.pkl"] = (rng.randint(20_000, 5 * MIB), b"\x80\x04\x95")
        env = rng.random()
        if env < 0.5:
            files["model/requirements.txt"] = (0, b"mlflow==3.18.0\nscikit-learn==1.5.2\nnumpy==2.1.0\n")
        elif env < 0.8:
            files["model/conda.yaml"] = (0, b"channels: [conda-forge]\ndependencies:\n- python=3.11\n- pip:\n  - mlflow==3.18.0\n")
        files["metrics.json"] = (0, json.dumps({k: v[-1][1] for k, v in run.history.items() if math.isfinite(v[-1][1])}).encode())
        if rng.random() < 0.5:
            files["plots/confusion_matrix.png"] = (rng.randint(8_000, 80_000), b"\x89PNG\r\n\x1a\n")
        if kind == "dirty-captured":
            files["mlrepro/uncommitted.patch"] = (0, _patch(rng, run.exp.repo))
        if kind == "big-artifact":
            files["model/model.pkl"] = (rng.randint(120, 400) * MIB, b"\x80\x04\x95")
        if kind == "big-run":
            for epoch in range(3):
                files[f"checkpoints/epoch-{epoch}.ckpt"] = (rng.randint(380, 450) * MIB, b"PK\x03\x04")
        if run.model_ids:
            run.model_files = {
                "MLmodel": (0, b"artifact_path: null\nflavors:\n  python_function: {}\n"),
                "model.pkl": (rng.randint(20_000, 2 * MIB), b"\x80\x04\x95"),
                "requirements.txt": (0, b"mlflow==3.18.0\nscikit-learn==1.5.2\n"),
            }

    # -- a sweep: the parent, then its children ---------------------------------------------------
    def _sweep(self) -> list[_Run]:
        rng = self.rng
        exp = rng.choice(self.experiments)
        start = self._slot()
        trials = rng.randint(3, 12)
        sampler = rng.choice(("TPESampler", "RandomSampler", "GridSampler"))
        # The study's name tells sweeps apart (two sweeps with the same settings are two studies).
        parent_params = {
            "study_name": f"{exp.domain}-{_hex(rng, 32)}", "n_trials": str(trials), "sampler": sampler, "metric": "val_auc", "direction": "maximize",
            "search_space": json.dumps({k: "float" for k, _ in exp.family.params[:3]}),
        }
        parent = self._run(exp, "sweep-parent", start, params=parent_params)
        parent.name = parent.tags["mlflow.runName"] = f"sweep-{exp.family.short}-{sampler[:-7].lower()}-{parent.run_id[:6]}"
        children = [self._run(exp, "sweep-child", self._slot(), parent=parent) for _ in range(trials)]
        best = max(children, key=lambda c: c.history.get("val_auc", [(0, 0.0, 0)])[-1][1])
        end = max(c.end or c.start for c in children) + 5_000
        parent.end = end
        parent.history = {
            "best_val_auc": [(0, best.history.get("val_auc", [(0, 0.0, 0)])[-1][1], end)],
            "best_trial": [(0, float(children.index(best)), end)],
        }
        return [parent, *children]


# -- writing ---------------------------------------------------------------------------------------


class _Writer:
    """One database connection, written to in batches."""

    def __init__(self, uri: str) -> None:
        from sqlalchemy import create_engine

        self.uri = uri
        self.seconds = 0.0  # spent writing (the rest of a generation is making the rows)
        self.vacuum_seconds = 0.0
        self.index_seconds = 0.0
        self._schema: list[tuple[Any, ...]] = []
        self._restore: list[str] = []
        self.sort_batches = True  # into live B-trees; not when PostgreSQL builds them afterwards
        self.backend: int | None = None  # PostgreSQL's server process for this connection
        self.engine = create_engine(uri)
        self.dialect = self.engine.dialect.name
        self.raw = self.engine.raw_connection()
        if self.dialect == "postgresql":
            driver = type(self.raw.driver_connection).__module__.split(".")[0]
            if driver != "psycopg2":
                raise GenerationError(f"COPY needs the psycopg2 driver, the URI uses {driver!r} (pip install psycopg2-binary)")
            self.backend = int(self.execute("SELECT pg_backend_pid()")[0][0])
        elif self.dialect == "sqlite":
            # For this connection only (nothing persists in the file): no fsync per batch, the
            # rollback journal in memory, and 1 GiB of cache for the indexes (run ids are random). A
            # generation that crashes leaves a broken file: generate it again.
            cursor = self.raw.cursor()
            for pragma in ("synchronous = OFF", "journal_mode = MEMORY", "cache_size = -1048576"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()
        else:
            raise GenerationError(f"{self.dialect}: only sqlite:// and postgresql:// stores are generated")

    def write(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        started = time.perf_counter()
        cursor = self.raw.cursor()
        try:
            for table in _ORDER:
                batch = rows.get(table)
                if not batch:
                    continue
                if self.sort_batches:
                    batch.sort(key=operator.itemgetter(*_KEYS[table]))
                columns = TABLES[table]
                if self.dialect == "sqlite":
                    names = ", ".join(f'"{c}"' for c in columns)
                    cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', batch)
                else:
                    null = f", FORCE_NULL ({', '.join(_NULLABLE[table])})" if table in _NULLABLE else ""
                    cursor.copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN WITH (FORMAT csv{null})', _csv(batch))
            self.raw.commit()
        except Exception:
            self.raw.rollback()
            raise
        finally:
            cursor.close()
            self.seconds += time.perf_counter() - started

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql.replace("?", "%s") if self.dialect == "postgresql" else sql, tuple(params))
            found = cursor.fetchall() if cursor.description else []
            self.raw.commit()
            return [tuple(row) for row in found]
        finally:
            cursor.close()

    def schema(self) -> list[tuple[Any, ...]]:
        """The definitions of the keys, constraints and indexes on the tables written."""
        tables = list(TABLES)
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(tables))
            return sorted(self.execute(f"SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name IN ({marks})", tables))
        return sorted(self.execute(
            "SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY(?::regclass[]) OR confrelid = ANY(?::regclass[]) "
            "UNION ALL SELECT tablename, indexname, 'index', indexdef FROM pg_indexes WHERE tablename = ANY(?)",
            (tables, tables, tables),
        ))

    def drop_indexes(self) -> None:
        """Before a fresh load: inserting into B-trees keyed by random run ids costs most of
        it; building them afterwards, sorted, costs little. The definitions are read from the
        database (as MLflow made them) and :meth:`restore_indexes` recreates them unchanged.
        SQLite keeps its primary keys (they are part of the table), PostgreSQL drops its
        foreign keys too and validates them when they come back."""
        self._schema = self.schema()
        tables = list(TABLES)
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(tables))
            found = self.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})", tables)
            self._restore = [sql for _, sql in found]
            for name, _ in found:
                self.execute(f'DROP INDEX "{name}"')
            return
        constraints = self.execute(
            "SELECT conrelid::regclass::text, quote_ident(conname), contype::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype IN ('p', 'u', 'f') AND (conrelid = ANY(?::regclass[]) OR confrelid = ANY(?::regclass[]))",
            (tables, tables),
        )
        # Indexes that back no key: MLflow's index_<table>_<column>s.
        indexes = self.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = ANY(?::regclass[]) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))",
            (tables,),
        )
        self.sort_batches = False
        foreign = [c for c in constraints if c[2] == "f"]
        keys = [c for c in constraints if c[2] != "f"]
        for table, name, _, _ in (*foreign, *keys):
            self.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _ in indexes:
            self.execute(f"DROP INDEX {name}")
        self._restore = [
            *(definition for _, definition in indexes),
            *(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}" for table, name, _, definition in (*keys, *foreign)),
        ]

    def restore_indexes(self) -> None:
        started = time.perf_counter()
        if self.dialect == "postgresql":
            self.execute("SET maintenance_work_mem = '512MB'")  # sorts of the index builds in memory
        try:
            for statement in self._restore:
                self.execute(statement)
        except Exception as exc:  # a duplicate key or a row without its run: a bug here, reported as such
            raise GenerationError(f"the generated rows break a key of MLflow's schema: {str(exc).strip().splitlines()[0]}") from None
        if self.schema() != self._schema:
            raise GenerationError("the keys and indexes did not come back as MLflow made them")
        self.index_seconds = time.perf_counter() - started

    def finish(self, tables: Sequence[str]) -> None:
        """PostgreSQL: statistics and visibility maps as autovacuum would leave them in a store
        that has been in use (fresh bulk loads have neither, and plans differ). SQLite: nothing
        (MLflow never runs ANALYZE, so real stores have no sqlite_stat1)."""
        if self.dialect != "postgresql":
            return
        started = time.perf_counter()
        self.raw.commit()
        connection = self.raw.driver_connection
        connection.autocommit = True
        cursor = connection.cursor()
        try:
            for table in tables:
                cursor.execute(f'VACUUM ANALYZE "{table}"')
        finally:
            cursor.close()
            connection.autocommit = False
            self.vacuum_seconds = time.perf_counter() - started

    def backend_cpu(self) -> float | None:
        """CPU seconds the PostgreSQL server process spent on this connection, when it runs on
        this machine: on a shared machine, CPU time says more than the wall clock."""
        if self.backend is None:
            return None
        try:
            fields = Path(f"/proc/{self.backend}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        import os

        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()


# Columns that hold None (NULL) in generated rows; every other column's None would be a bug.
_NULLABLE = {"runs": ("end_time", "deleted_time"), "logged_models": ("status_message",)}


def _csv(rows: list[tuple[Any, ...]]) -> io.StringIO:
    """COPY's CSV format, written by the csv module in C: every string quoted (an empty tag
    value stays an empty string), numbers and booleans bare (``True`` reads as true), and
    None as a quoted empty string that FORCE_NULL turns into NULL in the nullable columns."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    return buffer


def _rows(run: _Run, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    rid = run.run_id
    rows["runs"].append((
        rid, run.name, "UNKNOWN", "", "", run.user, run.status, run.start, run.end, run.deleted_time, "",
        "deleted" if run.deleted_time else "active", run.artifact_uri, int(run.exp.experiment_id),
    ))
    rows["tags"].extend((k, v, rid) for k, v in run.tags.items())
    rows["params"].extend((k, v, rid) for k, v in run.params.items())
    metrics, latest = rows["metrics"], rows["latest_metrics"]
    for key, points in run.history.items():
        for step, value, ts in points:
            is_nan, stored = _stored(value)
            metrics.append((key, stored, ts, rid, step, is_nan))
        step, value, ts = points[-1]
        is_nan, stored = _stored(value)
        latest.append((key, stored, ts, step, is_nan, rid))
    for dataset, context in run.datasets:
        input_uuid = hashlib.md5(f"{rid}:{dataset.uuid}".encode()).hexdigest()
        rows["inputs"].append((input_uuid, "DATASET", dataset.uuid, "RUN", rid, 0))
        rows["input_tags"].append((input_uuid, "mlflow.data.context", context))
    for model_id in run.model_ids:
        end = run.end or run.start
        rows["logged_models"].append((model_id, int(run.exp.experiment_id), "model", run.model_location(model_id), end - 2000, end, 2,
                                      "active", "", rid, None))
        rows["inputs"].append((hashlib.md5(f"{rid}:{model_id}".encode()).hexdigest(), "RUN_OUTPUT", rid, "MODEL_OUTPUT", model_id, 0))


def _stored(value: float) -> tuple[bool, float]:
    """(is_nan, value) as MLflow's SQL store keeps a metric value."""
    if math.isnan(value):
        return True, NAN_STORED
    if math.isinf(value):
        return False, INF_STORED if value > 0 else -INF_STORED
    return False, value


def _expected(run: _Run) -> ExpectedRun:
    return ExpectedRun(
        run_id=run.run_id, experiment_id=run.exp.experiment_id, kind=run.kind, name=run.name, status=run.status,
        deleted=run.deleted_time is not None, start_time=run.start, end_time=run.end, artifact_uri=run.artifact_uri,
        tags=dict(run.tags), params=dict(run.params),
        metrics={key: (math.nan if _stored(points[-1][1])[0] else _stored(points[-1][1])[1]) for key, points in run.history.items()},
        history={key: [(step, math.nan if _stored(v)[0] else _stored(v)[1]) for step, v, _ in points] for key, points in run.history.items()},
        datasets=[(d.name, d.digest, context) for d, context in run.datasets], model_ids=list(run.model_ids),
        artifact_files={path: max(size, len(head)) for path, (size, head) in run.files.items()},
    )


def _local_dir(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise GenerationError(f"{uri}: artifact files are only written to a local directory")
    return Path(url2pathname(parsed.path))


def _write_files(base: Path, files: dict[str, tuple[int, bytes]]) -> tuple[int, int]:
    """Each file gets its head bytes, then is extended to its size: a sparse file, so that a
    400 MB checkpoint lists at 400 MB and costs no disk."""
    count = total = 0
    for rel, (size, head) in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(head)
            if size > len(head):
                handle.truncate(size)
        count += 1
        total += max(size, len(head))
    return count, total


# -- the store -------------------------------------------------------------------------------------


def _ensure_database(uri: str) -> None:
    """PostgreSQL: create the database when it does not exist (the server must be there)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if url.get_backend_name() != "postgresql" or not url.database:
        return
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        engine.dispose()


def _empty_sqlite_store(path: Path) -> bool:
    """An MLflow database without runs (a migrated template): safe to fill. Anything else that
    exists is someone's data, or not MLflow's, and is left alone."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {"alembic_version", "runs"} <= tables and conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def resolve_uri(uri: str) -> str:
    """``postgresql://`` names no driver, and SQLAlchemy 2.1 then picks psycopg 3: the store is
    written (COPY) and read through psycopg2, so the URI names it. A relative SQLite path is
    made absolute: the audit and the client may run elsewhere."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path, sep, query = uri[len("sqlite:///"):].partition("?")
        return f"sqlite:///{Path(url2pathname(path)).resolve()}{sep}{query}"
    if not uri.startswith("postgresql://"):
        return uri
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise GenerationError("PostgreSQL stores are written with psycopg2: pip install psycopg2-binary") from None
    return "postgresql+psycopg2://" + uri[len("postgresql://"):]


def _default_root() -> str:
    return (Path.cwd() / "mlartifacts").resolve().as_uri()


def generate(options: Options, progress: Callable[[int, int], None] | None = None) -> Summary:
    """Create (or, with ``append``, extend) the store at ``options.uri``. ``progress(done, total)``
    is called after each batch."""
    if options.runs < 1:
        raise GenerationError("--runs must be at least 1")
    if options.experiments < 1:
        raise GenerationError("--experiments must be at least 1")
    if not 0 <= options.artifact_fraction <= 1:
        raise GenerationError("--artifact-fraction must be between 0 and 1")
    if options.max_steps < 1 or options.batch_runs < 1 or options.interval_s <= 0:
        raise GenerationError("--max-steps and --batch must be at least 1, --interval above 0")
    if options.artifacts is not None and options.artifact_root is not None:
        raise GenerationError("--artifacts DIR already sets the artifact root: give one of --artifacts and --artifact-root")
    started = time.perf_counter()
    options = replace(options, uri=resolve_uri(options.uri))
    if options.uri.startswith("sqlite:"):
        path = Path(url2pathname(options.uri.split("sqlite:///", 1)[-1].split("?", 1)[0]))
        if path.exists() and not options.append and not _empty_sqlite_store(path):
            raise GenerationError(f"{path} exists: remove it, or add runs to it with --append")
        if not path.exists() and options.append:
            raise GenerationError(f"{path} does not exist: nothing to append to")
        path.parent.mkdir(parents=True, exist_ok=True)
    elif options.uri.startswith("postgresql"):
        _ensure_database(options.uri)
    else:
        raise GenerationError(f"{options.uri}: only sqlite:/// and postgresql:// URIs are supported")
    root = options.artifacts.resolve().as_uri() if options.artifacts is not None else (options.artifact_root or _default_root())

    import logging

    from mlflow.entities import ExperimentTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    quiet = logging.getLogger("mlflow.store.db.utils")  # "Creating initial MLflow database tables..."
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        store = SqlAlchemyStore(options.uri, root)  # creates the schema, or migrates it, as MLflow does
    finally:
        quiet.setLevel(level)
    writer = _Writer(options.uri)
    try:
        existing = int(writer.execute("SELECT COUNT(*) FROM runs")[0][0])
        if existing and not options.append:
            raise GenerationError(f"the store already holds {existing} runs: add to them with --append, or use a new database")
        rng = random.Random(f"{options.seed}:{existing}")
        summary = Summary(options.uri, options.runs)
        summary.active_before = int(writer.execute("SELECT COUNT(*) FROM runs WHERE lifecycle_stage = 'active'")[0][0])
        experiments: list[_Experiment] = []
        new_datasets: list[tuple[Any, ...]] = []
        for index in range(options.experiments):
            name = experiment_name(index)
            found = store.get_experiment_by_name(name)
            if found is None:
                exp_id = store.create_experiment(name, tags=[ExperimentTag("team", _TEAMS[index % len(_TEAMS)]),
                                                             ExperimentTag("mlflow.note.content", f"{name}: models for {_DOMAINS[index % len(_DOMAINS)]}")])
                found = store.get_experiment(exp_id)
            domain = _DOMAINS[index % len(_DOMAINS)]
            exp = _Experiment(found.experiment_id, name, found.artifact_location.rstrip("/"), domain, _family(index),
                              _TEAMS[index % len(_TEAMS)], f"{domain}-models")
            exp.commits = [_hex(rng, 160) for _ in range(rng.randint(5, 40))]
            exp.freezes = [_hex(rng, 256) for _ in range(rng.randint(2, 6))]
            stored = writer.execute(
                "SELECT dataset_uuid, name, digest, dataset_source_type, dataset_source FROM datasets WHERE experiment_id = ? ORDER BY name, digest",
                (int(exp.experiment_id),),
            )
            if stored:
                exp.datasets = _reuse_pool(stored)
            else:
                exp.datasets = _dataset_pool(rng, exp)
                new_datasets.extend(
                    (d.uuid, int(exp.experiment_id), d.name, d.digest, d.source_type, d.source, d.schema, d.profile) for d in exp.datasets
                )
            experiments.append(exp)
            summary.experiments[name] = exp.experiment_id
        if new_datasets:
            writer.write({"datasets": new_datasets})
            summary.rows["datasets"] += len(new_datasets)

        if not options.append:  # an append is small and its tables are not: it goes through the indexes
            writer.drop_indexes()
        factory = _Factory(rng, experiments, options, existing)
        stride = max(1, options.runs // 100)
        per_kind: Counter[str] = Counter()
        models: dict[str, list[_Run]] = {"clean": [], "error": []}  # registry candidates
        done = 0
        rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        events = factory.events()
        while done < options.runs:
            event = next(events)
            while len(event) > options.runs - done and options.runs - done < 2:
                event = next(events)  # no room for a sweep's parent and a child: another event
            for run in event[: options.runs - done]:  # a sweep cut short at the end keeps its first children
                _rows(run, rows)
                if run.rerun_of is not None:
                    summary.rerun_sources.add(run.rerun_of)
                for base, files in ((run.artifact_uri, run.files), *((run.model_location(m), run.model_files) for m in run.model_ids)):
                    if files:
                        count, total = _write_files(_local_dir(base), files)
                        summary.artifact_files += count
                        summary.artifact_bytes += total
                summary.kinds[run.kind] += 1
                if per_kind[run.kind] < 3:
                    per_kind[run.kind] += 1
                    summary.sample.append(_expected(run))
                elif done % stride == 0:
                    summary.sample.append(_expected(run))
                if run.model_ids and run.deleted_time is None and run.kind not in ("sweep-parent", "sweep-child"):
                    pool = models["clean"] if run.kind in CLEAN_KINDS else models["error"] if _errors(run.kind) else None
                    if pool is not None and len(pool) < 40:
                        pool.append(run)
                done += 1
                if done % options.batch_runs == 0:
                    _flush(writer, rows, summary)
                    if progress is not None:
                        progress(done, options.runs)
        _flush(writer, rows, summary)
        if progress is not None and done % options.batch_runs:
            progress(done, options.runs)
        if not options.append:
            _registry(writer, rng, models, summary)
            writer.restore_indexes()
        writer.finish(tuple(_ORDER) + ("registered_models", "model_versions", "model_version_tags", "registered_model_aliases"))
        summary.write_seconds, summary.index_seconds, summary.vacuum_seconds = writer.seconds, writer.index_seconds, writer.vacuum_seconds
        summary.server_cpu_seconds = writer.backend_cpu()
    finally:
        writer.close()
        store.engine.dispose()
    summary.seconds = time.perf_counter() - started
    return summary


def _errors(kind: str) -> bool:
    """Does the audit give a run of this kind an error-level finding (what MLR801 looks for)?"""
    return bool(KIND_CODES.get(kind, frozenset()) & {"MLR501", "MLR502", "MLR504", "MLR506", "MLR601", "MLR701", "MLR707", "MLR901", "MLR902"})


def _reuse_pool(stored: list[tuple[Any, ...]]) -> list[_Dataset]:
    """An appended run logs the datasets its experiment already has: training versions, the
    evaluation set, then the one without a digest, in the order the pool was built."""
    train = [_Dataset(u, n, d, t, s, f"v{i + 1}") for i, (u, n, d, t, s) in enumerate(r for r in stored if r[1].endswith("-train") and r[2])]
    evals = [_Dataset(u, n, d, t, s, "holdout") for u, n, d, t, s in stored if n.endswith("-eval")]
    adhoc = [_Dataset(u, n, d, t, s, "adhoc") for u, n, d, t, s in stored if not d]
    if not train or not evals or not adhoc:
        raise GenerationError("the store's datasets were not made by this generator: append to a generated store only")
    return [*train, evals[0], adhoc[0]]


def _flush(writer: _Writer, rows: dict[str, list[tuple[Any, ...]]], summary: Summary) -> None:
    writer.write(rows)
    for table, batch in rows.items():
        summary.rows[table] += len(batch)
        batch.clear()


@dataclass
class _Version:
    run_id: str
    source: str
    storage: str | None
    stage: str = "None"  # MLflow's own spelling of no stage
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    codes: frozenset[str] = frozenset()  # what the audit must report on this version


def _version(run: _Run, **kwargs: Any) -> _Version:
    model_id = run.model_ids[0]
    return _Version(run.run_id, f"models:/{model_id}", run.model_location(model_id), **kwargs)


# The trail `mlrepro promote` leaves on a version it moved (MLR804 looks for it).
def _trail(rng: random.Random, targets: str) -> dict[str, str]:
    return {
        "mlrepro.promoted_by": "ci-bot", "mlrepro.promoted_at": "2026-03-02T10:00:00+00:00",
        "mlrepro.gate": "audit,must-beat,reproduce", "mlrepro.audit_digest": _hex(rng, 256), "mlrepro.promoted_to": targets,
    }


def _registry(writer: _Writer, rng: random.Random, models: dict[str, list[_Run]], summary: Summary) -> None:
    """Registered models whose versions come from generated runs (MLflow 3 logged models),
    each model in one situation the registry checks look for; ``summary.versions`` holds the
    codes each version must get."""
    clean, error = models["clean"], models["error"]
    registered: list[tuple[str, list[_Version]]] = []
    for index in range(10):
        scenario = index % 5
        if scenario == 0 and len(clean) >= 2:  # promoted through the gate: nothing to report
            versions = [_version(clean.pop(0), stage="Archived"),
                        _version(clean.pop(0), stage="Production", aliases=("champion",), tags=_trail(rng, "stage:Production,@champion"))]
            name = "promoted"
        elif scenario == 1 and clean and error:  # a run with errors serves, promoted by hand
            versions = [_version(clean.pop(0), stage="Archived"), _version(error.pop(0), stage="Production", codes=frozenset({"MLR801", "MLR804"}))]
            name = "unreproducible"
        elif scenario == 2 and len(clean) >= 2:  # two versions left in Production
            versions = [_version(clean.pop(0), stage="Production", codes=frozenset({"MLR804"})),
                        _version(clean.pop(0), stage="Production", codes=frozenset({"MLR803", "MLR804"}))]
            name = "two-production"
        elif scenario == 3:  # its run was deleted for good (mlflow gc): the version still names it
            lost = _hex(rng, 128)
            versions = [_Version(lost, f"runs:/{lost}/model", None, aliases=("champion",), codes=frozenset({"MLR802", "MLR804"}))]
            name = "lost-run"
        elif scenario == 4 and error:  # nothing serves it: history, not a liability
            versions = [_version(error.pop(0))]
            name = "unserved"
        else:
            continue
        registered.append((f"{name}-{index}", versions))

    created = int(DEFAULT_START.timestamp() * 1000)
    names, rows, tags, aliases = [], [], [], []
    for name, versions in registered:
        names.append((name, created, created, f"{name} model"))
        for number, v in enumerate(versions, start=1):
            rows.append((name, number, created + number, created + number, None, "ci-bot", v.stage, v.source, v.run_id, "READY", None, None, v.storage))
            tags.extend((key, value, name, number) for key, value in v.tags.items())
            aliases.extend((alias, number, name) for alias in v.aliases)
            summary.versions[(name, str(number))] = v.codes
    mark = "%s" if writer.dialect == "postgresql" else "?"
    cursor = writer.raw.cursor()
    try:
        for table, columns, batch in (
            ("registered_models", "name, creation_time, last_updated_time, description", names),
            ("model_versions", "name, version, creation_time, last_updated_time, description, user_id, current_stage, source, "
                               "run_id, status, status_message, run_link, storage_location", rows),
            ("model_version_tags", '"key", value, name, version', tags),
            ("registered_model_aliases", "alias, version, name", aliases),
        ):
            if batch:
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join([mark] * len(batch[0]))})", batch)
                summary.rows[table] += len(batch)
        writer.raw.commit()
    finally:
        cursor.close()


# -- verification through MLflow's own client -------------------------------------------------------


def verify(summary: Summary, full_count: bool = True) -> list[str]:
    """Read the store back through ``MlflowClient``: the sample's runs, value for value, and
    (``full_count``) the number of active runs, paged through search_runs as the audit does.
    Returns the differences found (empty: the store reads as generated)."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=summary.uri)
    problems: list[str] = []
    ids = list(summary.experiments.values())
    by_id = {e.run_id: e for e in summary.sample}
    found: dict[str, Any] = {}
    chunk = 50
    wanted = list(by_id)
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        quoted = ", ".join(f"'{r}'" for r in part)
        for run in client.search_runs(ids, filter_string=f"attributes.run_id IN ({quoted})", run_view_type=ViewType.ALL, max_results=chunk):
            found[run.info.run_id] = run
    for run_id, exp in by_id.items():
        run = found.get(run_id)
        if run is None:
            problems.append(f"{run_id} ({exp.kind}): not returned by search_runs")
            continue
        problems.extend(f"{run_id} ({exp.kind}): {p}" for p in _compare(run, exp))
    for exp in summary.sample[:20]:
        for key, points in list(exp.history.items())[:1]:
            got = [(m.step, m.value) for m in sorted(client.get_metric_history(exp.run_id, key), key=lambda m: (m.step, m.timestamp))]
            if not _same_points(got, points):
                problems.append(f"{exp.run_id} ({exp.kind}): history of {key}: {got} != {points}")
    if full_count:
        active, token = 0, None
        while True:
            page = client.search_runs(ids, max_results=50_000, page_token=token)
            active += len(page)
            token = page.token
            if not token:
                break
        expected = summary.active_before + summary.runs - summary.deleted
        if active != expected:
            problems.append(f"search_runs returned {active} active runs, expected {expected}")
    return problems


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _same_points(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> bool:
    return len(got) == len(want) and all(g[0] == w[0] and _same(g[1], w[1]) for g, w in zip(got, want))


def _compare(run: Any, exp: ExpectedRun) -> Iterator[str]:
    info, data = run.info, run.data
    if info.experiment_id != exp.experiment_id:
        yield f"experiment {info.experiment_id} != {exp.experiment_id}"
    for what, got, want in (
        ("status", info.status, exp.status), ("run name", info.run_name, exp.name),
        ("lifecycle stage", info.lifecycle_stage, "deleted" if exp.deleted else "active"),
        ("start time", info.start_time, exp.start_time), ("end time", info.end_time, exp.end_time),
        ("artifact URI", info.artifact_uri, exp.artifact_uri), ("tags", dict(data.tags), exp.tags), ("params", dict(data.params), exp.params),
    ):
        if got != want:
            yield f"{what}: {got!r} != {want!r}"
    metrics = dict(data.metrics)
    if metrics.keys() != exp.metrics.keys() or not all(_same(metrics[k], v) for k, v in exp.metrics.items()):
        yield f"metrics: {metrics} != {exp.metrics}"
    datasets = sorted(
        (d.dataset.name, d.dataset.digest, next((t.value for t in d.tags if t.key == "mlflow.data.context"), ""))
        for d in (run.inputs.dataset_inputs if run.inputs else ())
    )
    if datasets != sorted(exp.datasets):
        yield f"datasets: {datasets} != {sorted(exp.datasets)}"
    outputs = getattr(run, "outputs", None)
    model_ids = sorted(o.model_id for o in (getattr(outputs, "model_outputs", None) or ()))
    if model_ids != sorted(exp.model_ids):
        yield f"logged models: {model_ids} != {sorted(exp.model_ids)}"


def check_findings(summary: Summary, findings: Sequence[dict[str, Any]], artifacts: bool = False) -> list[str]:
    """Compare ``mlrepro audit --output-format json`` findings with what each sampled run's
    kind and each registry version must get, and the number of runs with each code with the
    number of runs of the kinds that have it (``artifacts``: the audit listed artifacts).
    Returns the differences (empty: every defect found, nothing reported on clean runs)."""
    by_run: dict[str, set[str]] = {}
    by_version: dict[str, set[str]] = {}
    for finding in findings:
        if finding.get("model"):
            by_version.setdefault(str(finding["model"]), set()).add(str(finding["code"]))
        elif finding.get("run_id"):
            by_run.setdefault(str(finding["run_id"]), set()).add(str(finding["code"]))
    problems = []
    for run in summary.sample:
        got = by_run.get(run.run_id, set())
        if run.deleted:
            if got:
                problems.append(f"{run.run_id} (deleted): audited anyway: {sorted(got)}")
            continue
        want = set(KIND_CODES[run.kind])
        allowed = {"MLR703"} if run.run_id in summary.rerun_sources else set()
        if not artifacts:
            want -= {"MLR704", "MLR705"}
        else:
            allowed.add("MLR507")  # no environment file among the artifacts of a run without the plugin's freeze hash
        if want - got or got - want - allowed:
            problems.append(f"{run.run_id} ({run.kind}): codes {sorted(got)}, expected {sorted(want)}")
    for (name, version), codes in summary.versions.items():
        got = by_version.get(f"{name}/{version}", set())
        if got != codes:
            problems.append(f"model {name}/{version}: codes {sorted(got)}, expected {sorted(codes)}")
    if summary.active_before == 0:  # a store of generated runs only: every run's kind is known
        found = Counter(code for codes in by_run.values() for code in codes)
        expected: Counter[str] = Counter()
        for kind, count in summary.kinds.items():
            for code in KIND_CODES[kind] if kind != "deleted" else ():
                if artifacts or code not in ("MLR704", "MLR705"):
                    expected[code] += count
        expected["MLR703"] += len(summary.rerun_sources)
        for code in sorted(set(found) | set(expected)):
            if found[code] != expected[code] and not (artifacts and code == "MLR507"):
                problems.append(f"{code} on {found[code]} runs, {expected[code]} runs are of kinds that have it")
    return problems


def audit(uri: str, artifacts: bool = False, cwd: Path | None = None) -> tuple[int, list[dict[str, Any]], float]:
    """Run ``mlrepro audit`` over the store in a child process (default policy, no repository,
    text progress off): (exit code, JSON findings, seconds)."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "findings.json"
        command = [sys.executable, "-m", "mlrepro", "audit", "--tracking-uri", uri, "--isolated", "-q",
                   "--output-format", "json", "-o", str(out), "--artifacts" if artifacts else "--no-artifacts"]
        started = time.perf_counter()
        # Outside any repository (the checks that need one stay quiet) and any pyproject.toml.
        done = subprocess.run(command, cwd=cwd or scratch, capture_output=True, text=True, check=False,
                              env={**os.environ, "MLREPRO_CACHE_DIR": scratch})
        seconds = time.perf_counter() - started
        if done.returncode not in (0, 1) or not out.exists():
            raise GenerationError(f"mlrepro audit exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        return done.returncode, json.loads(out.read_text(encoding="utf-8")), seconds
