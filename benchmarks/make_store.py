"""Generate a big MLflow tracking store (100k or 1M runs) for the audit benchmarks.

    python benchmarks/make_store.py --uri sqlite:///.benchmarks/store-100k/mlflow.db --runs 100000
    python benchmarks/make_store.py --uri postgresql://postgres@127.0.0.1:5432/mlrepro_bench_1m --runs 1000000
    python benchmarks/make_store.py --uri sqlite:///small.db --runs 2000 --artifacts .benchmarks/small-artifacts --audit

MLflow creates the schema (its SQL store migrates the new database) and the experiments; the
runs are then bulk-inserted into MLflow's own tables (executemany on SQLite, COPY on
PostgreSQL, in batches): tags of MLflow and of mlrepro's capture plugin, 5-20 params, 2-6
metrics with their history, dataset inputs, MLflow 3 logged models, artifact URIs, and a
registry. Most runs are clean; the others each carry one defect the audit reports (no seed,
dirty tree, missing tags or commit, FAILED/KILLED/stale RUNNING, NaN metrics, reruns that
nobody can tell apart, ...), sweeps nest children under parents, and some runs are deleted.
The same seed gives the same store. A PostgreSQL database is created when missing; drop it
afterwards (`DROP DATABASE ... WITH (FORCE)`). Measured on this 2-core machine while shared
(load 5-10): 100k runs (5.7M rows) in 1.5-2.5 min on SQLite (1.1 GB) and 3 min on PostgreSQL
(1.2 GB); 1M runs (57M rows) in 35 min on PostgreSQL (11 GB), of which a quarter to a half
is CPU time (the figures it prints).

Afterwards a sample of runs is read back through ``MlflowClient.search_runs`` and compared
value for value (``--full-check`` also pages through every run, at the client's ~1,000
runs/s). ``--audit`` runs ``mlrepro audit --no-artifacts`` (``--artifacts`` lists them
too when the store has files) over the store and checks that each sampled run gets exactly
the findings of its kind, and that each code is found on as many runs as there are runs of
the kinds that have it.

For the audit benchmarks: build the store once (it is the slow part), then time on it the
audit against the MlflowClient baseline, e.g. ``mlrepro audit --tracking-uri URI --no-artifacts``
against paginated ``search_runs``; ``_store_gen.generate`` does the same from a script and
returns the sample and the kinds for checking the findings (``check_findings``).
``--artifacts DIR`` writes real files for a fraction of runs (``--artifact-fraction``;
large checkpoints are sparse files: their listed size costs no disk); ``--artifact-root URI``
only sets where the runs' artifact URIs point (e.g. an S3 bucket). For the incremental
audit, add runs later with ``--append --start now --seed N``.

Exit status: 0 generated and verified, 1 a verification failed, 2 bad arguments or the store
could not be generated.
"""

from __future__ import annotations

import argparse
import resource
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _store_gen as gen  # noqa: E402


def _when(text: str) -> datetime:
    if text == "now":
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date (2025-01-01 or 2025-01-01T12:00:00) or 'now'") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", required=True, help="sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--artifacts", type=Path, metavar="DIR", help="write real artifact files under DIR (the artifact root)")
    parser.add_argument("--artifact-root", metavar="URI", help="artifact root of the experiments, without files (default ./mlartifacts)")
    parser.add_argument("--artifact-fraction", type=float, default=0.1, help="with --artifacts: share of runs that get files")
    parser.add_argument("--start", type=_when, default=gen.DEFAULT_START, help="first run's start time, ISO or 'now' (default 2025-01-01)")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between two runs' starts")
    parser.add_argument("--max-steps", type=int, default=10, help="metric history: points per loss curve, at most")
    parser.add_argument("--batch", type=int, default=5000, help="runs per transaction")
    parser.add_argument("--append", action="store_true", help="add runs to a store this script generated")
    parser.add_argument("--full-check", action="store_true", help="also count every run through search_runs")
    parser.add_argument("--audit", action="store_true", help="run mlrepro audit over the store and check its findings")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = gen.Options(
        uri=args.uri, runs=args.runs, experiments=args.experiments, seed=args.seed, artifacts=args.artifacts,
        artifact_root=args.artifact_root, artifact_fraction=args.artifact_fraction, start=args.start,
        interval_s=args.interval, max_steps=args.max_steps, batch_runs=args.batch, append=args.append,
    )

    def progress(done: int, total: int) -> None:
        print(f"  {done:>9,} / {total:,} runs", file=sys.stderr, flush=True)

    try:
        summary = gen.generate(options, progress)
    except gen.GenerationError as exc:
        print(f"make_store: {exc}", file=sys.stderr)
        return 2
    rows = sum(summary.rows.values())
    print(f"store: {summary.uri}")
    print(f"generated {summary.runs:,} runs ({summary.deleted:,} deleted) in {len(summary.experiments)} experiments: "
          f"{rows:,} rows in {summary.seconds:.1f} s ({summary.runs / summary.seconds:,.0f} runs/s; writing {summary.write_seconds:.1f} s, indexes {summary.index_seconds:.1f} s"
          + (f", VACUUM ANALYZE {summary.vacuum_seconds:.1f} s)" if summary.vacuum_seconds else ")"))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"  CPU: {cpu.ru_utime + cpu.ru_stime:.1f} s in this process (with MLflow's import and migrations)"
          + (f", {summary.server_cpu_seconds:.1f} s in the PostgreSQL server" if summary.server_cpu_seconds is not None else ""))
    print("  rows: " + ", ".join(f"{table} {count:,}" for table, count in sorted(summary.rows.items())))
    print("  kinds: " + ", ".join(f"{kind} {count:,}" for kind, count in summary.kinds.most_common()))
    if summary.artifact_files:
        print(f"  artifact files: {summary.artifact_files:,} ({summary.artifact_bytes / gen.MIB:,.0f} MiB listed, large ones sparse)")

    problems = gen.verify(summary, full_count=args.full_check)
    status = 0
    if problems:
        print(f"MlflowClient reads the store differently ({len(problems)} differences):")
        for problem in problems[:20]:
            print(f"  {problem}")
        status = 1
    else:
        print(f"MlflowClient reads back the {len(summary.sample)} sampled runs as generated" + (" and every active run" if args.full_check else ""))
    if args.audit:
        listed = args.artifacts is not None
        try:
            code, findings, seconds = gen.audit(summary.uri, artifacts=listed)
        except gen.GenerationError as exc:
            print(f"make_store: {exc}", file=sys.stderr)
            return 1
        by_code: dict[str, int] = {}
        for finding in findings:
            by_code[finding["code"]] = by_code.get(finding["code"], 0) + 1
        print(f"mlrepro audit {'--artifacts' if listed else '--no-artifacts'}: exit {code}, {len(findings):,} findings in {seconds:.1f} s: "
              + ", ".join(f"{c} {n:,}" for c, n in sorted(by_code.items())))
        mismatches = gen.check_findings(summary, findings, artifacts=listed)
        if mismatches:
            print(f"the audit's findings differ from the runs' kinds ({len(mismatches)}):")
            for mismatch in mismatches[:20]:
                print(f"  {mismatch}")
            status = 1
        else:
            print("every sampled run and registry version got exactly the findings of its kind")
    return status


if __name__ == "__main__":
    sys.exit(main())
