"""Overhead of ``mlrepro reproduce`` over running the same training command directly.

    python benchmarks/reproduce_overhead.py [--repeat 3] [--slow-repeat 2] [--work 10]

Builds, in a temporary directory, a git repository (pushed to a bare origin, capture plugin
on through ``[tool.mlrepro]``) with a seeded scikit-learn training script that logs to a
temporary SQLite store, and then, each command in a fresh process, timed from outside
(wall time, imports included, since both sides pay their own):
  (a1) quick script: ``python train.py`` against ``mlrepro reproduce RUN_ID``
       overhead = fastest reproduce - fastest direct                  target <= 2 s
  (a2) the same script with --work seconds of CPU-bound work after training
       ratio = fastest reproduce / fastest direct                     target <= 1.2
  (b)  ``mlrepro audit --reproduce --jobs 2`` on 4 flagged runs (each with --bulk-work
       seconds of work) against ``--jobs 1``, each on its own copy of the same store
       ratio = jobs 2 / jobs 1                                          target <= 0.6
Fastest of --repeat (--slow-repeat for a2 and b) each; the direct and reproduced commands
alternate so that neither gets a warmer disk cache. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _repos import pushed_repository

OVERHEAD_TARGET_S = 2.0
SLOW_RATIO_TARGET = 1.2
JOBS_RATIO_TARGET = 0.6

TRAIN = """\
import argparse
import time

import mlflow
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--work", type=float, default=0.0)
args = parser.parse_args()
X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=7)
with mlflow.start_run():
    mlflow.log_param("seed", 7)
    model = RandomForestClassifier(n_estimators=20, random_state=7).fit(X_train, y_train)
    mlflow.log_metric("accuracy", model.score(X_test, y_test))
    # Stands for a longer training: CPU-bound, as training is, not a sleep.
    deadline = time.perf_counter() + args.work
    spins = 0
    while time.perf_counter() < deadline:
        spins += 1
"""


def build_repository(base: Path) -> Path:
    return pushed_repository(base, {"train.py": TRAIN, "pyproject.toml": "[tool.mlrepro]\n", ".gitignore": "mlruns/\nmlartifacts/\n"})


def environment(uri: str) -> dict[str, str]:
    # Nothing inherited that would make the direct run and the reproduction differ by accident.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT", "PYTHONHASHSEED", "MLREPRO_SEED"))}
    env.update({"MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "GIT_PYTHON_REFRESH": "quiet"})
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def latest_run(uri: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    [run] = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1)
    return str(run.info.run_id)


def direct_vs_reproduce(repo: Path, uri: str, work: float, repeat: int) -> tuple[float, float, float]:
    """Fastest direct run, fastest reproduction of one of them (alternating), and the
    in-process ``duration_s`` that reproduction reported (its wall time less start-up)."""
    import json

    env = environment(uri)
    direct = [sys.executable, "train.py", *(["--work", str(work)] if work else [])]
    first, _ = timed(direct, repo, env)
    run_id = latest_run(uri)
    reproduce = [sys.executable, "-m", "mlrepro", "reproduce", run_id, "--output-format", "json"]
    direct_times, reproduce_times = [first], []
    for n in range(repeat):
        seconds, out = timed(reproduce, repo, env)
        result = json.loads(out)
        if result["verdict"] != "identical":
            raise SystemExit(f"the reproduction of {run_id} is not identical:\n{out[-3000:]}")
        reproduce_times.append((seconds, float(result["duration_s"])))
        if n + 1 < repeat:
            direct_times.append(timed(direct, repo, env)[0])
    fastest = min(reproduce_times)
    return min(direct_times), fastest[0], fastest[1]


def bulk(repo: Path, base: Path, work: float, repeat: int) -> tuple[float, float]:
    """``audit --reproduce`` of 4 flagged runs with --jobs 1 and --jobs 2, fastest of each."""
    from mlflow import MlflowClient

    template = base / "bulk.db"
    env = environment(f"sqlite:///{template}")
    for _ in range(4):  # no dataset logged: MLR601, an error, flags each of them
        timed([sys.executable, "train.py", "--work", str(work)], repo, env)
    results: dict[int, list[float]] = {1: [], 2: []}
    for n in range(repeat):
        for jobs in (1, 2):
            db = base / f"bulk-{jobs}-{n}.db"
            shutil.copy(template, db)
            uri = f"sqlite:///{db}"
            argv = [sys.executable, "-m", "mlrepro", "audit", "--reproduce", "--jobs", str(jobs), "--no-artifacts", "--output-format", "json", "-q"]
            seconds, _ = timed(argv, repo, environment(uri), ok=(0, 1))
            client = MlflowClient(tracking_uri=uri)
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
            done = [r for r in runs if "mlrepro.reproduces" in r.data.tags and r.info.status == "FINISHED"]
            if len(done) != 4:
                raise SystemExit(f"audit --reproduce --jobs {jobs} finished {len(done)} reproductions, not 4")
            results[jobs].append(seconds)
    return min(results[1]), min(results[2])


def audit_has_jobs() -> bool:
    out = subprocess.run([sys.executable, "-m", "mlrepro", "audit", "--help"], capture_output=True, text=True, check=False).stdout
    return "--reproduce" in out and "--jobs" in out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="measurements of the quick script (fastest counts)")
    parser.add_argument("--slow-repeat", type=int, default=2, help="measurements of the slow script and of each --jobs setting")
    parser.add_argument("--work", type=float, default=10.0, help="seconds of work in the slow script")
    parser.add_argument("--bulk-work", type=float, default=3.0, help="seconds of work in each of the 4 bulk runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlrepro-reproduce-bench-") as tmp:
        base = Path(tmp)
        repo = build_repository(base)
        uri = f"sqlite:///{base / 'mlflow.db'}"
        # The first run creates and migrates the store: not part of anyone's training.
        timed([sys.executable, "train.py"], repo, environment(uri))
        quick_direct, quick_reproduce, quick_inside = direct_vs_reproduce(repo, uri, 0.0, args.repeat)
        slow_direct, slow_reproduce, _ = direct_vs_reproduce(repo, uri, args.work, args.slow_repeat)
        overhead = quick_reproduce - quick_direct
        ratio = slow_reproduce / slow_direct
        print(f"(a1) quick script   direct {quick_direct:6.2f} s  reproduce {quick_reproduce:6.2f} s  overhead {overhead:5.2f} s (target <= {OVERHEAD_TARGET_S:g})")
        # Where the overhead goes: the reproduce process's own start-up (imports, store
        # connection) is its wall time less the duration it measured inside.
        print(f"     of the reproduction: {quick_reproduce - quick_inside:5.2f} s process start-up, {quick_inside:5.2f} s reproduce_run (child included)")
        print(f"(a2) {args.work:g} s of work   direct {slow_direct:6.2f} s  reproduce {slow_reproduce:6.2f} s  ratio {ratio:.2f} (target <= {SLOW_RATIO_TARGET:g})")
        ok = overhead <= OVERHEAD_TARGET_S and ratio <= SLOW_RATIO_TARGET
        if audit_has_jobs():
            serial, parallel = bulk(repo, base, args.bulk_work, args.slow_repeat)
            jobs_ratio = parallel / serial
            print(f"(b)  4 flagged runs  --jobs 1 {serial:6.2f} s  --jobs 2 {parallel:6.2f} s  ratio {jobs_ratio:.2f} (target <= {JOBS_RATIO_TARGET:g}; {os.cpu_count()} CPUs)")
            ok = ok and jobs_ratio <= JOBS_RATIO_TARGET
        else:
            print("(b)  skipped: this mlrepro has no `audit --reproduce --jobs`")
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
