"""``--executor ray`` against the local executor, on a real local Ray cluster.

    python benchmarks/reproduce_ray.py [--runs 8] [--work 10] [--head-cpus 2] [--node-cpus 1]

Starts a two-node Ray cluster on 127.0.0.1 (``ray start --head`` and ``ray start --address``,
as tests/reproduce/test_ray_executor.py does; stopped by process id afterwards) and builds, in a
temporary directory, a git repository pushed to a bare origin with a seeded training script
that works --work CPU-bound seconds and logs to a temporary SQLite store. Then, each command in a
fresh process, timed from outside:
  (a) ``mlrepro reproduce RUN_ID`` of a quick run, local against ray (the fastest of --repeat):
      the per-reproduction overhead of Ray (driver connection, task start, the worker's fetch
      of the repository) = ray - local; and the part of it spent outside the engine on the
      worker (wall time less the ``duration_s`` the worker measured)
  (b) ``mlrepro audit --reproduce`` of --runs flagged runs: ``--executor local --jobs 1``
      (serial) against ``--executor ray`` (every run a task; the cluster's CPUs decide)
      ratio = ray / serial local                                       target <= 0.6
The ratio depends on the machine's cores: a cluster of 3 CPUs on a 2-core machine gives at
most 2 reproductions at once. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from reproduce_overhead import build_repository, environment, latest_run, timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ray_cluster_helpers import start_cluster  # noqa: E402 - the tests' cluster, started the same way

RATIO_TARGET = 0.6


def single(repo: Path, uri: str, address: str, repeat: int) -> tuple[float, float, float]:
    """Fastest local and ray reproduction of one quick run, and the ray one's ``duration_s``."""
    env = environment(uri)
    timed([sys.executable, "train.py"], repo, env)
    run_id = latest_run(uri)
    base = [sys.executable, "-m", "mlrepro", "reproduce", run_id, "--output-format", "json"]
    local: list[float] = []
    ray: list[tuple[float, float]] = []
    for _ in range(repeat):
        seconds, out = timed(base, repo, env)
        local.append(seconds)
        seconds, out = timed([*base, "--executor", "ray", "--ray-address", address], repo, env)
        result = json.loads(out)
        if result["verdict"] != "identical":
            raise SystemExit(f"the ray reproduction of {run_id} is not identical:\n{out[-3000:]}")
        ray.append((seconds, float(result["duration_s"])))
    fastest = min(ray)
    return min(local), fastest[0], fastest[1]


def bulk(repo: Path, base: Path, runs: int, work: float, address: str) -> tuple[float, float]:
    """``audit --reproduce`` of ``runs`` flagged runs, serial local and on ray, each on its own
    copy of the same store."""
    from mlflow import MlflowClient

    template = base / "bulk.db"
    env = environment(f"sqlite:///{template}")
    for _ in range(runs):  # no dataset logged: MLR601, an error, flags each of them
        timed([sys.executable, "train.py", "--work", str(work)], repo, env)
    seconds: dict[str, float] = {}
    for name, extra in (("local", ["--executor", "local", "--jobs", "1"]), ("ray", ["--executor", "ray", "--ray-address", address])):
        db = base / f"bulk-{name}.db"
        shutil.copy(template, db)
        uri = f"sqlite:///{db}"
        argv = [sys.executable, "-m", "mlrepro", "audit", "--reproduce", *extra, "--no-artifacts", "--output-format", "json", "-q"]
        seconds[name], _ = timed(argv, repo, environment(uri), ok=(0, 1))
        client = MlflowClient(tracking_uri=uri)
        found = client.search_runs([e.experiment_id for e in client.search_experiments()])
        done = [r for r in found if "mlrepro.reproduces" in r.data.tags and r.info.status == "FINISHED"]
        if len(done) != runs:
            raise SystemExit(f"audit --reproduce --executor {name} finished {len(done)} reproductions, not {runs}")
    return seconds["local"], seconds["ray"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="flagged runs reproduced in (b)")
    parser.add_argument("--work", type=float, default=10.0, help="seconds of CPU-bound work in each run of (b)")
    parser.add_argument("--repeat", type=int, default=2, help="measurements of (a) (fastest counts)")
    parser.add_argument("--head-cpus", type=int, default=2)
    parser.add_argument("--node-cpus", type=int, default=1, help="CPUs of the second node (0: head node only)")
    args = parser.parse_args()
    src = str(Path(__file__).resolve().parents[1] / "src")
    cluster = start_cluster(args.head_cpus, args.node_cpus, pythonpath=src)
    try:
        with tempfile.TemporaryDirectory(prefix="mlrepro-ray-bench-") as tmp:
            base = Path(tmp)
            repo = build_repository(base)
            uri = f"sqlite:///{base / 'mlflow.db'}"
            timed([sys.executable, "train.py"], repo, environment(uri))  # creates and migrates the store
            local, ray, inside = single(repo, uri, cluster.address, args.repeat)
            print(f"(a) one quick run   local {local:6.2f} s  ray {ray:6.2f} s  overhead of ray {ray - local:5.2f} s per reproduction")
            print(f"    of the ray reproduction: {ray - inside:5.2f} s driver start-up, connection, task start and fetch; {inside:5.2f} s reproduce_run on the worker")
            serial, parallel = bulk(repo, base, args.runs, args.work, cluster.address)
            ratio = parallel / serial
            cpus = args.head_cpus + args.node_cpus
            print(
                f"(b) {args.runs} runs of {args.work:g} s  local --jobs 1 {serial:6.2f} s  ray {parallel:6.2f} s  ratio {ratio:.2f} "
                f"(target <= {RATIO_TARGET:g}; cluster {cluster.nodes} nodes, {cpus} CPUs; machine {os.cpu_count()} cores)"
            )
    finally:
        left = cluster.stop()
        if left:
            print(f"Ray processes left: {sorted(left)}")
    ok = ratio <= RATIO_TARGET
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
