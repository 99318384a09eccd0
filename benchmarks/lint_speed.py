"""Lint throughput and start-up, as ratios against baselines measured in the same run.

    python benchmarks/lint_speed.py [--corpus DIR] [--repeat 3]

Against reading and ``ast.parse``-ing the same files (>= 300k lines of real Python) in a bare
interpreter:
- per file, ``mlrepro lint --no-project --jobs 1`` (target: <= 1.5x);
- the project-wide default, cold (``--no-cache``, default jobs) (target: <= 2x);
- the project-wide default again with the cache of the previous run (target: <= 0.25x).
Against ``python -c "import click"``:
- pre-commit style: one changed file of that tree, with the cache (target: <= 3x);
- one file alone in an empty directory (target: <= 2x).
Each command runs --repeat times; the fastest run counts, since noise on a shared machine only
ever adds time. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THROUGHPUT_TARGET = 1.5
PROJECT_TARGET = 2.0
CACHED_TARGET = 0.25
CHANGED_FILE_TARGET = 3.0
STARTUP_TARGET = 2.0
MIN_LINES = 300_000
PARSE_ONLY = """
import ast, gc, sys
from pathlib import Path
gc.disable()  # what the linter does too: ASTs have no cycles
for path in sorted(Path(sys.argv[1]).rglob("*.py")):
    try:
        ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        pass
"""


def best_of(cmd: list[str], repeat: int, cwd: Path | None = None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def default_corpus(workdir: Path) -> Path:
    """A copy of an installed package (outside site-packages, which lint excludes)."""
    for name in ("sklearn", "scipy", "numpy", "pandas"):
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
            target = workdir / name
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.so", "*.pyc", "__pycache__"))
            return target
    raise SystemExit("no corpus: pass --corpus DIR (>= 300k lines of Python)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # Installed wheels ship bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE would
    # recompile every module on every start and measure the compiler, not mlrepro.
    import compileall

    import mlrepro

    compileall.compile_dir(str(Path(mlrepro.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = args.corpus or default_corpus(work)
        files = sorted(corpus.rglob("*.py"))
        lines = sum(p.read_bytes().count(b"\n") for p in files)
        print(f"corpus: {corpus.name}, {len(files)} files, {lines:,} lines")
        if lines < MIN_LINES:
            print(f"warning: fewer than {MIN_LINES:,} lines; ratios are less meaningful")
        lint = [sys.executable, "-m", "mlrepro", "lint", "--isolated", "--exit-zero", "--output-format", "json", "-o", str(work / "out.json")]
        parse = best_of([sys.executable, "-c", PARSE_ONLY, str(corpus)], args.repeat)
        serial = best_of([*lint, "--no-project", "--jobs", "1", str(corpus)], args.repeat, cwd=work)
        project = best_of([*lint, "--no-cache", str(corpus)], args.repeat, cwd=work)
        findings = (work / "out.json").read_text().count('"code"')
        best_of([*lint, str(corpus)], 1, cwd=work)  # fills the cache
        cached = best_of([*lint, str(corpus)], args.repeat, cwd=work)
        print(f"ast.parse baseline                 {parse:7.2f} s")
        print(f"lint --no-project --jobs 1         {serial:7.2f} s  ratio {serial / parse:.2f}  (target <= {THROUGHPUT_TARGET})")
        print(f"lint, project-wide, cold           {project:7.2f} s  ratio {project / parse:.2f}  (target <= {PROJECT_TARGET}; {findings} findings)")
        print(f"lint, project-wide, with the cache {cached:7.2f} s  ratio {cached / parse:.2f}  (target <= {CACHED_TARGET})")

        runs = max(args.repeat, 10)
        click = best_of([sys.executable, "-c", "import click"], runs)
        changed = files[len(files) // 2]
        changed.write_text(changed.read_text(encoding="utf-8", errors="replace") + "\n# changed\n", encoding="utf-8")
        best_of([sys.executable, "-m", "mlrepro", "lint", "--isolated", "--exit-zero", str(changed)], 1, cwd=work)
        one_changed = best_of([sys.executable, "-m", "mlrepro", "lint", "--isolated", "--exit-zero", str(changed)], runs, cwd=work)
        alone = work / "alone"
        alone.mkdir()
        one = alone / "train.py"
        one.write_text("import random\nrandom.seed(0)\nprint(random.random())\n")
        startup = best_of([sys.executable, "-m", "mlrepro", "lint", "--isolated", str(one)], runs, cwd=alone)
        print(f"python -c 'import click'           {click * 1000:6.0f} ms")
        print(f"lint one changed file of the tree  {one_changed * 1000:6.0f} ms  ratio {one_changed / click:.2f}  (target <= {CHANGED_FILE_TARGET})")
        print(f"lint one file alone                {startup * 1000:6.0f} ms  ratio {startup / click:.2f}  (target <= {STARTUP_TARGET})")
    ok = (
        serial / parse <= THROUGHPUT_TARGET and project / parse <= PROJECT_TARGET and cached / parse <= CACHED_TARGET
        and one_changed / click <= CHANGED_FILE_TARGET and startup / click <= STARTUP_TARGET
    )
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
