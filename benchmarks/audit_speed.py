"""Audit throughput on 10,000 runs, as ratios against a bare ``search_runs`` in the same run.

    python benchmarks/audit_speed.py [--runs 10000] [--rebuild]

Builds (once, cached in .benchmarks/, which git ignores) a SQLite store of N runs with 10
params, 5 metrics, 8 tags and 3 artifact files each, inserted in bulk through MLflow's own
SQLAlchemy models: through the client it would take ~75 ms a run. Then, each in a fresh
process and timed after imports:
  (a) bare paginated MlflowClient.search_runs over every run (the baseline)
  (b) mlrepro audit --no-artifacts                        target <= 1.3 x (a)
  (c) mlrepro audit (artifacts listed)                    target <= 3 x (a)
  (d) mlrepro audit --incremental after 100 new runs      target <= 0.1 x (b)
and the peak memory (max RSS) of each process. Exits 1 when a target is missed. The clock
starts after imports (mlflow and its SQL store modules, mlrepro) and includes connecting.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".benchmarks"

MEASURE = r"""
import json, os, resource, sys, time
mode, uri, cwd = sys.argv[1], sys.argv[2], sys.argv[3]
os.chdir(cwd)
# Every mode imports MLflow and its SQL store modules before the clock starts: ~1 s of
# imports per process (alembic, SQLAlchemy models) that neither searching nor auditing is.
import mlflow  # noqa: F401
import mlflow.store.model_registry.sqlalchemy_store  # noqa: F401
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
if mode == "search":
    from mlflow import MlflowClient
    # The clock includes connecting (engine, schema check), as the audit's does.
    start = time.perf_counter()
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    token, count = None, 0
    while True:
        page = client.search_runs(ids, max_results=50000, page_token=token)
        count += len(page)
        token = page.token
        if not token:
            break
else:
    from mlrepro.api import audit_report
    from mlrepro.audit.engine import Auditor  # import before the clock starts, like the baseline
    import mlflow  # noqa: F401
    from pathlib import Path
    args = json.loads(mode)
    start = time.perf_counter()
    report = audit_report(Path(cwd), uri, artifacts=args["artifacts"], incremental=args["incremental"], isolated=True)
    count = len(report.checked)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "count": count, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build_store(path: Path, artifacts: Path, runs: int, experiments: int = 5, start_ms: int | None = None) -> None:
    """Insert ``runs`` runs in bulk (a new store, or more runs into an existing one)."""
    from mlflow import MlflowClient
    from mlflow.store.tracking.dbmodels import models as m
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri)
    ids = []
    for i in range(experiments):
        existing = client.get_experiment_by_name(f"exp-{i}")
        ids.append(existing.experiment_id if existing else client.create_experiment(f"exp-{i}", artifact_location=(artifacts / f"exp-{i}").as_uri()))
    engine = create_engine(uri)
    now = start_ms or int(time.time() * 1000) - 86_400_000
    with Session(engine) as session:
        for n in range(runs):
            run_id = uuid.uuid4().hex
            exp = ids[n % experiments]
            art_dir = artifacts / f"exp-{n % experiments}" / run_id / "artifacts"
            start = now + n * 1000
            session.add(m.SqlRun(
                run_uuid=run_id, name=f"run-{n}", source_type="LOCAL", source_name="train.py", entry_point_name="",
                user_id="bench", status="FINISHED", start_time=start, end_time=start + 500, source_version="",
                lifecycle_stage="active", artifact_uri=art_dir.as_uri(), experiment_id=exp,
            ))
            session.add_all(m.SqlParam(key=f"p{k}", value=str((n * 7 + k) % 13), run_uuid=run_id) for k in range(10))
            for k in range(5):
                value = ((n * 31 + k) % 1000) / 1000
                session.add(m.SqlMetric(key=f"m{k}", value=value, timestamp=start, step=0, is_nan=False, run_uuid=run_id))
                session.add(m.SqlLatestMetric(key=f"m{k}", value=value, timestamp=start, step=0, is_nan=False, run_uuid=run_id))
            tags = {"mlflow.runName": f"run-{n}", "mlflow.user": "bench", "model_type": "rf", "team": "bench",
                    "purpose": "benchmark", "feature_set": "f1", "dataset_version": f"v{n % 3}", "mlflow.source.name": "train.py"}
            session.add_all(m.SqlTag(key=k, value=v, run_uuid=run_id) for k, v in tags.items())
            (art_dir / "model").mkdir(parents=True)
            (art_dir / "metrics.json").write_text("{}")
            (art_dir / "model" / "model.pkl").write_bytes(b"\0" * 2048)
            (art_dir / "model" / "requirements.txt").write_text("scikit-learn\n")
            if n % 1000 == 999:
                session.commit()
        session.commit()


def measure(mode: str, uri: str, cwd: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", MEASURE, mode, uri, str(cwd)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"measurement {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cached_store(runs: int, rebuild: bool = False) -> Path:
    """The template store of ``runs`` runs (``mlflow.db``, its artifacts beside it), built
    once and cached under .benchmarks/: building 10,000 real runs takes minutes."""
    base = CACHE / f"audit-{runs}"
    template = base / "mlflow.db"
    if rebuild or not template.exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        started = time.perf_counter()
        build_store(template, base / "artifacts", runs)
        print(f"built a store of {runs} runs in {time.perf_counter() - started:.0f} s (cached in {base})")
    return template


def work_copy(template: Path, name: str) -> Path:
    """A fresh copy of the template database in .benchmarks/<name>/ (the template stays pristine)."""
    work = CACHE / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return Path(shutil.copy(template, work / "mlflow.db"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    db = work_copy(cached_store(args.runs, args.rebuild), "audit-work")
    work = db.parent
    uri = f"sqlite:///{db}"
    # The runs' artifact URIs point at the template's artifact folder: listing reads it in place.
    cwd = work  # not a git repository: provenance checks that need one stay quiet, as the baseline does no git work

    a = measure("search", uri, cwd)
    b = measure(json.dumps({"artifacts": False, "incremental": False}), uri, cwd)
    c = measure(json.dumps({"artifacts": True, "incremental": False}), uri, cwd)
    import os

    os.environ["MLREPRO_CACHE_DIR"] = str(work / "cache")
    measure(json.dumps({"artifacts": False, "incremental": True}), uri, cwd)  # the first one is full
    build_store(db, work / "new-artifacts", 100, start_ms=int(time.time() * 1000) + 1000)
    d = measure(json.dumps({"artifacts": False, "incremental": True}), uri, cwd)

    print(f"(a) search_runs baseline     {a['seconds']:7.2f} s  {a['count']:6d} runs  peak {a['max_rss_mb']:6.0f} MB")
    print(f"(b) audit --no-artifacts     {b['seconds']:7.2f} s  ratio {b['seconds'] / a['seconds']:.2f} (target <= 1.3)  peak {b['max_rss_mb']:6.0f} MB")
    print(f"(c) audit with artifacts     {c['seconds']:7.2f} s  ratio {c['seconds'] / a['seconds']:.2f} (target <= 3)  peak {c['max_rss_mb']:6.0f} MB")
    print(f"(d) --incremental, 100 new   {d['seconds']:7.2f} s  ratio {d['seconds'] / b['seconds']:.3f} of (b) (target <= 0.1)  peak {d['max_rss_mb']:6.0f} MB")
    ok = b["seconds"] <= 1.3 * a["seconds"] and c["seconds"] <= 3 * a["seconds"] and d["seconds"] <= 0.1 * b["seconds"]
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
