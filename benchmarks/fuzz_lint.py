"""The long fuzz run of the linter (#17): generated sources, linted one by one, crashes counted.

    nice -n 10 python benchmarks/fuzz_lint.py --examples 100000 [--workers 2] [--seed 0]

Sources: Python generated from the grammar (hypothesmith), and mutations (truncation, random
tokens, deep nesting, spliced lines, encodings, hostile literals, suppression comments) of our
own training-code fixtures and of the generated sources: hypothesmith alone almost never
imports numpy or torch, so the rules' own paths would go untested. About one in ten is linted as
a notebook. Each is written to a temporary file and linted in-process with
``Linter.lint_file``, as the CLI does per file.

A crash is any exception escaping the linter, a result that is not a list of well-formed
findings, or a file taking longer than --hang-seconds. Crashing sources are saved to
--crash-dir with the traceback. Prints the counts; exits 1 on any crash. The tests in
tests/lint/test_lint_fuzz.py run the same generators briefly in the default suite.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import signal
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from source_fuzz import SEEDS, as_notebook, bad_result, mutate, project_modules, write_source  # noqa: E402

BATCH = 500


class Hang(Exception):
    pass


@dataclass
class Tally:
    examples: int = 0
    grammar: int = 0
    mutations: int = 0
    notebooks: int = 0
    findings: int = 0
    syntax_errors: int = 0
    projects: int = 0
    crashes: list[tuple[str, str]] = field(default_factory=list)  # (where saved, one-line reason)

    def add(self, other: Tally) -> None:
        for name in ("examples", "grammar", "mutations", "notebooks", "findings", "syntax_errors", "projects"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.crashes.extend(other.crashes)


def grammar_sources(count: int, seed: int) -> list[str]:
    """``count`` grammar-generated modules (fewer if Hypothesis runs out of new ones)."""
    import hypothesmith
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    found: list[str] = []

    @fixed_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(hypothesmith.from_grammar())
    def collect(source: str) -> None:
        found.append(source)

    if count:
        collect()
    return found


_CONFIG: dict[str, object] = {}


def _init(options: dict[str, object]) -> None:
    _CONFIG.update(options)
    # hypothesmith compiles what it generates: Python's warnings about that code are noise here.
    warnings.simplefilter("ignore", SyntaxWarning)
    signal.signal(signal.SIGALRM, _alarm)


def _alarm(signum: int, frame: object) -> None:
    raise Hang(f"no answer within {_CONFIG['hang_seconds']} s")


def run_batch(batch: int) -> Tally:
    from mlrepro.config import resolve_settings
    from mlrepro.lint.engine import Linter

    size, seed, share = int(_CONFIG["batch_size"]), int(_CONFIG["seed"]), float(_CONFIG["grammar_share"])  # type: ignore[arg-type]
    crash_dir = Path(str(_CONFIG["crash_dir"]))
    every = int(_CONFIG["project_every"])  # type: ignore[call-overload]
    tally = Tally()
    generated = grammar_sources(round(size * share), seed * 1_000_003 + batch)
    donors = [*SEEDS, *generated]
    with tempfile.TemporaryDirectory(prefix="mlrepro-fuzz-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("[tool.mlrepro]\n")
        linter = Linter(resolve_settings(root))
        for i in range(size):
            rng = random.Random(f"{seed}:{batch}:{i}")
            if i < len(generated):
                source, tally.grammar = generated[i], tally.grammar + 1
            else:
                base = rng.choice(generated) if generated and rng.random() < 0.3 else rng.choice(SEEDS)
                source, tally.mutations = mutate(base, rng, donors), tally.mutations + 1
            notebook = rng.random() < 0.1
            path = root / ("train.ipynb" if notebook else "train.py")
            if notebook:
                path.write_bytes(as_notebook(source, rng))
                tally.notebooks += 1
            else:
                write_source(path, source)
            tally.examples += 1
            signal.alarm(int(_CONFIG["hang_seconds"]))  # type: ignore[call-overload]
            try:
                findings = linter.lint_file(path)
                why = bad_result(findings)
            except Exception as exc:  # the point of the run: anything escaping is a crash
                why = "".join(traceback.format_exception(exc))
            finally:
                signal.alarm(0)
            if why is None and every and i % every == 0:
                why = project_run(root / "project", path, rng)
                tally.projects += 1
            if why is None:
                tally.findings += len(findings)
                tally.syntax_errors += any(f.code == "MLR001" for f in findings)
                continue
            crash_dir.mkdir(parents=True, exist_ok=True)
            saved = crash_dir / f"crash-{seed}-{batch}-{i}{path.suffix}"
            saved.write_bytes(path.read_bytes())
            saved.with_suffix(saved.suffix + ".txt").write_text(why)
            tally.crashes.append((str(saved), why.strip().splitlines()[-1][:200]))
    return tally


def project_run(root: Path, source: Path, rng: random.Random) -> str | None:
    """The source as one module of a generated project (with one more mutated module),
    linted project-wide twice: without the cache, then with a cache filled by a first run. Why
    that failed, or None."""
    import shutil

    from mlrepro.config import resolve_settings
    from mlrepro.lint.engine import lint_paths

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.mlrepro]\n")
    files = project_modules(rng, rng.randint(2, 4))
    victim = rng.choice([name for name in files if name.endswith(".py")])
    files[victim] = mutate(files[victim], rng)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_source(root / name, text)
    shutil.copyfile(source, root / source.name)
    settings = resolve_settings(root)
    signal.alarm(int(_CONFIG["hang_seconds"]))  # type: ignore[call-overload]
    try:
        runs = []
        for cache in (False, True, True):
            findings = lint_paths([root], settings, cwd=root, jobs=1, cache=cache).findings
            why = bad_result(findings)
            if why is not None:
                return why
            runs.append([(f.filename, f.location, f.cell, f.code, f.message) for f in findings])
    except Exception as exc:  # the point of the run
        return "".join(traceback.format_exception(exc))
    finally:
        signal.alarm(0)
    if not runs[0] == runs[1] == runs[2]:
        return "the cached project-wide run gave other findings than the fresh one"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grammar-share", type=float, default=0.05, help="share of sources from hypothesmith as they are (slow to generate)")
    parser.add_argument("--project-every", type=int, default=20, help="every Nth source is also linted project-wide, in a generated project (0: never)")
    parser.add_argument("--hang-seconds", type=int, default=30)
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args(argv)
    batches = max(1, -(-args.examples // BATCH))
    options = {"batch_size": BATCH, "seed": args.seed, "grammar_share": args.grammar_share, "hang_seconds": args.hang_seconds,
               "project_every": args.project_every, "crash_dir": str(args.crash_dir.resolve())}
    total = Tally()
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers, initializer=_init, initargs=(options,)) as pool:
        for done, tally in enumerate(pool.imap_unordered(run_batch, range(batches)), start=1):
            total.add(tally)
            for saved, reason in tally.crashes:
                print(f"crash: {saved}: {reason}", file=sys.stderr)
            if done % 10 == 0 or done == batches:
                elapsed = time.perf_counter() - start
                print(f"{total.examples:,} sources, {len(total.crashes)} crashes, {elapsed:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    print(
        f"fuzz_lint: {total.examples:,} generated sources linted ({total.grammar:,} from the grammar, {total.mutations:,} mutations; "
        f"{total.notebooks:,} as notebooks; {total.syntax_errors:,} not valid Python; {total.projects:,} also project-wide), "
        f"{total.findings:,} findings, "
        f"{len(total.crashes)} crashes, in {elapsed:.0f} s ({total.examples / elapsed:.0f}/s, {args.workers} workers, seed {args.seed})"
    )
    return 1 if total.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
