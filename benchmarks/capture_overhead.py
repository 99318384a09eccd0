"""Run-start overhead of the capture plugin: ``mlflow.start_run()``/``end_run()`` with the
plugin against the same with ``MLREPRO_CAPTURE=0``, in one process, on a dirty repository.

    python benchmarks/capture_overhead.py [--runs 30] [--files 2000]

Builds a git repository of --files source files (40 packages, pushed to a bare origin), then
makes it dirty as a working day does: 5 tracked files modified, 5 untracked files added.
Runs in that repository against a fresh SQLite store, as a training script would (numpy
loaded, argv[0] the script in the repository). One warm-up run per mode, then --runs pairs
alternating the two modes; the median of each mode counts (the fastest is shown too).
Also shown: the first plugin run of a process, which reads the installed distributions
once (cached for the process) and is the only run of most training scripts, and
``collect_tags()`` alone. Target: <= 150 ms added, to a run in general (median) and to the
first run of the process. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _repos import pushed_repository

TARGET_MS = 150.0


def build_repository(base: Path, files: int) -> Path:
    sources = {}
    for n in range(files):
        body = "".join(f"def f{n}_{k}(x):\n    return x * {k} + {n}\n\n" for k in range(40))
        sources[f"pkg{n % 40:02d}/module_{n:04d}.py"] = f'"""Module {n}."""\n\n{body}'
    repo = pushed_repository(base, {**sources, "train.py": "print('train')\n", ".gitignore": "mlruns/\n"})
    for n in range(0, 50, 10):  # a working day: a few edits, a few new files
        path = repo / f"pkg{n % 40:02d}" / f"module_{n:04d}.py"
        path.write_text(path.read_text().replace("return x *", "return 2 * x *", 5))
    for n in range(5):
        (repo / f"scratch_{n}.py").write_text(f"EXPERIMENT = {n}\n")
    return repo


def timed_run(mlflow: object, capture: bool) -> float:
    os.environ["MLREPRO_CAPTURE"] = "1" if capture else "0"
    start = time.perf_counter()
    with mlflow.start_run():  # type: ignore[attr-defined]
        pass
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlrepro-capture-bench-") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        repo = build_repository(base, args.files)
        print(f"built a repository of {args.files} files in {time.perf_counter() - started:.1f} s (5 modified, 5 untracked)")

        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{base / 'mlflow.db'}"
        os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
        os.chdir(repo)
        sys.argv = [str(repo / "train.py")]
        import numpy  # noqa: F401 - loaded at run start in real training: threadpoolctl inspects its BLAS
        import mlflow

        timed_run(mlflow, capture=False)  # creates the database tables: not part of either mode
        first = timed_run(mlflow, capture=True)
        timed_run(mlflow, capture=False)
        on: list[float] = []
        off: list[float] = []
        for _ in range(args.runs):
            on.append(timed_run(mlflow, capture=True))
            off.append(timed_run(mlflow, capture=False))

        from mlrepro.capture.collect import collect_tags

        alone = []
        for _ in range(args.runs):
            start = time.perf_counter()
            tags = collect_tags()
            alone.append((time.perf_counter() - start) * 1000)
        assert tags["mlrepro.git.dirty"] == "true" and "mlrepro.git.diff.0" in tags, tags
        assert "mlrepro.capture_error" not in tags, tags["mlrepro.capture_error"]

    added = statistics.median(on) - statistics.median(off)
    # A training script usually starts one run per process: that run pays the first-run costs.
    first_added = first - statistics.median(off)
    print(f"start_run/end_run without plugin  median {statistics.median(off):7.1f} ms   fastest {min(off):7.1f} ms   ({args.runs} runs)")
    print(f"start_run/end_run with plugin     median {statistics.median(on):7.1f} ms   fastest {min(on):7.1f} ms   ({args.runs} runs)")
    print(f"collect_tags() alone              median {statistics.median(alone):7.1f} ms   fastest {min(alone):7.1f} ms")
    print(f"first plugin run of the process   {first:7.1f} ms   (distributions read once, modules imported)")
    print(f"added per run: {added:.1f} ms (median against median); to the first run of a process: {first_added:.1f} ms (target <= {TARGET_MS:.0f} ms each)")
    ok = added <= TARGET_MS and first_added <= TARGET_MS
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
