"""Reading runs through the SQL fast path against MLflow's client, as ratios in the same run.

    python benchmarks/audit_sql_fast_path.py [--runs 5000] [--backend sqlite|postgresql|both]

Builds a store of N runs (schema created by MLflow itself, then rows bulk-inserted through its
own table definitions: through the client it would take ~75 ms a run) with 10 params, 5
metrics (some NaN, some with several steps), 9 tags, dataset inputs, nested, failed, running
and deleted runs over 5 experiments. SQLite under .benchmarks/ (git ignores it); PostgreSQL
(postgresql://postgres@127.0.0.1:5432, trust auth) in a throwaway database dropped at the end.
Then, timed after imports, in two processes (records, audits), each pair interleaved:
  (a) the client: MlflowStore.iter_runs, every RunRecord (the baseline)
  (b) the fast path: SqlRunReader.iter_runs, every RunRecord     target >= 20 x (a) runs/s
  (c) mlrepro audit --no-artifacts through the client
  (d) mlrepro audit --no-artifacts through the fast path
Each is timed --repeat times (default 3), alternating with its baseline, and the best kept: the
machine is shared and its load moves within minutes. Digests are taken after the clock stops.
(b) must give the same records as (a), (d) the same report as (c) (compared by digest). Exits 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".benchmarks"
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"

MEASURE = r"""
import hashlib, json, math, os, sys, time
what, uri, cwd, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.chdir(cwd)
import mlflow  # noqa: F401
import mlflow.store.model_registry.sqlalchemy_store  # noqa: F401
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
import sqlalchemy  # noqa: F401
from mlrepro.sources.mlflow_store import MlflowStore
from mlrepro.sources.mlflow_sql import SqlRunReader
import mlrepro.audit.engine  # noqa: F401
import mlrepro.audit.sources as sources
from mlrepro.api import audit_report
from mlrepro.formatters import render
from pathlib import Path

def digest(records):
    h = hashlib.sha256()
    for r in records:
        metrics = {k: "nan" if math.isnan(v) else v for k, v in r.metrics.items()}
        h.update(repr((r.run_id, r.experiment_id, r.experiment_name, r.run_name, r.status, r.start_time, r.end_time,
                       sorted(r.params.items()), sorted(metrics.items()), sorted(r.tags.items()), r.datasets, r.model_ids,
                       r.artifact_uri, r.deleted, r.name_generated)).encode())
    return h.hexdigest()

store = MlflowStore.open(uri)  # the records of both paths read the experiments through the client, before the clock
experiments = store.experiments()
backend_database = sources.backend_database

def client_records():
    return list(store.iter_runs(experiments))

def fast_records():
    with SqlRunReader.open(uri) as reader:  # the clock includes connecting and the schema check
        reader.prepare(experiments, [""])
        return list(reader.iter_runs(experiments))

def audit(fast):
    sources.backend_database = backend_database if fast else (lambda *args: None)  # the audit as it was before
    return audit_report(Path(cwd), uri, artifacts=False, isolated=True)

def check(result):  # after the clock
    if what == "records":
        return len(result), digest(result)
    return len(result.checked), hashlib.sha256(render("json", result).encode()).hexdigest()

paths = {"client": client_records, "fast": fast_records} if what == "records" else {"client": lambda: audit(False), "fast": lambda: audit(True)}
best, result = {}, {}
for _ in range(repeat):  # interleaved, the best of each kept: the machine is shared and its load moves
    for name, read in paths.items():
        start = time.perf_counter()
        got = read()
        elapsed = time.perf_counter() - start
        best[name] = min(best.get(name, elapsed), elapsed)
        result[name] = check(got)
        del got
print(json.dumps({name: {"seconds": best[name], "count": result[name][0], "check": result[name][1]} for name in paths}))
"""


def build_store(uri: str, runs: int, artifacts: Path, experiments: int = 5) -> None:
    """Create the schema with MLflow, then insert ``runs`` runs in bulk."""
    import os

    from mlflow import MlflowClient
    from mlflow.store.tracking.dbmodels import models as m
    from sqlalchemy import create_engine, insert

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    client = MlflowClient(tracking_uri=uri)
    ids = [int(client.create_experiment(f"exp-{i}", artifact_location=(artifacts / f"exp-{i}").as_uri())) for i in range(experiments)]
    engine = create_engine(uri)
    now = int(time.time() * 1000) - 30 * 86_400_000  # a month ago: RUNNING runs are stale in every measurement alike
    datasets = [
        {"dataset_uuid": uuid.uuid4().hex, "experiment_id": exp, "name": f"train-{k}", "digest": f"{k:08x}", "dataset_source_type": "local",
         "dataset_source": json.dumps({"uri": f"data/train-{k}.csv"}), "dataset_schema": None, "dataset_profile": None}
        for exp in ids for k in range(3)
    ]
    by_experiment = {exp: [d for d in datasets if d["experiment_id"] == exp] for exp in ids}
    statuses = ["FINISHED"] * 17 + ["FAILED", "RUNNING", "KILLED"]
    chunk = 2_000
    with engine.begin() as conn:
        conn.execute(insert(m.SqlDataset.__table__), datasets)
    parents: dict[int, str] = {}
    for first in range(0, runs, chunk):
        rows: dict[str, list[dict[str, object]]] = {t: [] for t in ("runs", "tags", "params", "metrics", "latest", "inputs", "input_tags")}
        for n in range(first, min(first + chunk, runs)):
            run_id = uuid.uuid4().hex
            exp = ids[n % experiments]
            start = now + n * 1000
            status = statuses[n % len(statuses)]
            rows["runs"].append({
                "run_uuid": run_id, "name": f"run-{n}", "source_type": "LOCAL", "source_name": "train.py", "entry_point_name": "",
                "user_id": "bench", "status": status, "start_time": start + (n % 7) * 3 - 9, "end_time": None if status == "RUNNING" else start + 500,
                "source_version": "", "lifecycle_stage": "deleted" if n % 50 == 49 else "active",
                "artifact_uri": (artifacts / f"exp-{n % experiments}" / run_id / "artifacts").as_uri(), "experiment_id": exp,
            })
            tags = {"mlflow.runName": f"run-{n}", "mlflow.user": "bench", "model_type": "rf", "team": "bench", "purpose": "benchmark",
                    "feature_set": "f1", "dataset_version": f"v{n % 3}", "mlflow.source.name": "train.py",
                    "mlflow.source.git.commit": f"{n % 97:040x}"}
            if n % 10 == 0:
                parents[exp] = run_id
            elif exp in parents:
                tags["mlflow.parentRunId"] = parents[exp]
            rows["tags"] += [{"key": k, "value": v, "run_uuid": run_id} for k, v in tags.items()]
            rows["params"] += [{"key": f"p{k}", "value": str((n * 7 + k) % 13), "run_uuid": run_id} for k in range(10)]
            for k in range(5):
                value = math.nan if (k == 4 and n % 9 == 0) else ((n * 31 + k) % 1000) / 1000
                steps = 3 if k == 0 else 1
                for step in range(steps):
                    rows["metrics"].append({"key": f"m{k}", "value": 0.0 if math.isnan(value) else value + step, "timestamp": start + step,
                                            "step": step, "is_nan": math.isnan(value), "run_uuid": run_id})
                rows["latest"].append({"key": f"m{k}", "value": 0.0 if math.isnan(value) else value + steps - 1, "timestamp": start + steps - 1,
                                       "step": steps - 1, "is_nan": math.isnan(value), "run_uuid": run_id})
            for d in by_experiment[exp][: 1 + n % 2]:
                input_id = uuid.uuid4().hex
                rows["inputs"].append({"input_uuid": input_id, "source_type": "DATASET", "source_id": d["dataset_uuid"],
                                       "destination_type": "RUN", "destination_id": run_id, "step": 0})
                rows["input_tags"].append({"input_uuid": input_id, "name": "mlflow.data.context", "value": "training"})
        with engine.begin() as conn:
            for name, table in (("runs", m.SqlRun), ("tags", m.SqlTag), ("params", m.SqlParam), ("metrics", m.SqlMetric),
                                ("latest", m.SqlLatestMetric), ("inputs", m.SqlInput), ("input_tags", m.SqlInputTag)):
                if rows[name]:
                    conn.execute(insert(table.__table__), rows[name])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")  # as autovacuum would have by the time anyone audits
    engine.dispose()


def measure(what: str, uri: str, cwd: Path, repeat: int) -> dict[str, dict[str, float | str]]:
    out = subprocess.run([sys.executable, "-c", MEASURE, what, uri, str(cwd), str(repeat)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"measurement {what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def postgres_database() -> tuple[str, object]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    conn.autocommit = True
    name = f"mlrepro_bench_{uuid.uuid4().hex[:12]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES}/{name}", (conn, name)


def drop_postgres(handle: object) -> None:
    conn, name = handle  # type: ignore[misc]
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def bench(backend: str, runs: int, repeat: int) -> bool:
    work = CACHE / f"sql-fast-path-{backend}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    handle = None
    if backend == "sqlite":
        uri = f"sqlite:///{work / 'mlflow.db'}"
    else:
        uri, handle = postgres_database()
    try:
        started = time.perf_counter()
        build_store(uri, runs, work / "artifacts")
        print(f"[{backend}] built a store of {runs} runs in {time.perf_counter() - started:.1f} s")
        # Outside any git repository (.benchmarks/ is inside this one): no provenance check runs git.
        cwd = Path(tempfile.mkdtemp(prefix="mlrepro-bench-"))
        records = measure("records", uri, cwd, repeat)
        audits = measure("audit", uri, cwd, repeat)
        shutil.rmtree(cwd, ignore_errors=True)
    finally:
        if handle is not None:
            drop_postgres(handle)
    a, b, c, d = records["client"], records["fast"], audits["client"], audits["fast"]
    ratio = (b["count"] / b["seconds"]) / (a["count"] / a["seconds"])
    same = a["check"] == b["check"] and a["count"] == b["count"]
    audit_same = c["check"] == d["check"] and c["count"] == d["count"]
    for label, r in (("(a) client RunRecords     ", a), ("(b) fast path RunRecords  ", b), ("(c) audit, client path    ", c), ("(d) audit, fast path      ", d)):
        print(f"[{backend}] {label} {r['seconds']:7.2f} s  {r['count']:7d} runs  {r['count'] / r['seconds']:9.0f} runs/s")
    print(f"[{backend}] fast path / client: {ratio:.1f} x runs/s (target >= 20), records {'identical' if same else 'DIFFER'}")
    print(f"[{backend}] audit --no-artifacts: {c['seconds'] / d['seconds']:.1f} x faster through the fast path, findings {'identical' if audit_same else 'DIFFER'}")
    return ratio >= 20 and same and audit_same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3, help="time each mode this many times, keep the best")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    ok = all([bench(backend, args.runs, args.repeat) for backend in backends])
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
