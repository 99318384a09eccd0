"""Generated inputs for fuzzing the linter (#17): mutations of our own training-code fixtures,
and small multi-module projects built from a grammar of the code shapes the project-wide lint
judges. Shared by tests/lint/test_lint_fuzz.py and benchmarks/fuzz_lint.py.

The mutators take a ``random.Random``: Hypothesis drives it in the tests (``st.randoms()``),
a seeded one drives the long run, so a crash found there is replayed from its seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from mlrepro.findings import Finding

FIXTURES = Path(__file__).parent / "fixtures" / "lint"


def _read(path: Path) -> str:
    # surrogateescape keeps the bytes of the Latin-1 and other undecodable fixtures as they are.
    return path.read_bytes().decode("utf-8", "surrogateescape")


# Seeds: our fixtures are the training-code shapes the rules know (numpy, torch, TF, MLflow, ...),
# which grammar-generated Python almost never imports.
SEEDS: tuple[str, ...] = tuple(_read(p) for p in sorted(FIXTURES.glob("*.py")))
NOTEBOOK_SEEDS: tuple[str, ...] = tuple(_read(p) for p in sorted(FIXTURES.glob("*.ipynb")))

TOKENS: tuple[str, ...] = (
    # Python's own punctuation and keywords, at any place
    "(", ")", "[", "]", "{", "}", ":", ",", ".", ";", "=", "==", "->", "**", "*", "@", "\\", "\\\n", "\n", "\r\n", "\r",
    "\t", "    ", "\x0c", "'", '"', '"""', "'''", "f'", "rb'", "#", "lambda", "def", "class", "async", "await", "yield",
    "return", "with", "for", "while", "if", "else", "elif", "try", "except", "finally", "import", "from", "as", "global",
    "nonlocal", "del", "pass", "match", "case", "type", "not", "and", "or", "in", "is", "None", "True", "...",
    # names and calls the rules look for
    "np", "numpy", "torch", "tf", "random", "mlflow", "seed", "random.seed(0)", "np.random.seed(0)", "torch.manual_seed(0)",
    "np.random.rand()", "random.random()", "torch.randn(3)", "torch.cuda", ".cuda()", "nn.Conv2d(3, 8, 3)",
    "torch.backends.cudnn.deterministic = True", "torch.backends.cudnn.benchmark = True", "DataLoader(ds, shuffle=True)",
    "train_test_split(X)", "mlflow.start_run()", "mlflow.end_run()", "set_seed(", "seed_everything(", "main()",
    "__name__", "'__main__'", "os.environ['PYTHONHASHSEED'] = '0'", "df.sample(frac=1)", "tf.random.set_seed(1)",
    # comments the suppression reader parses
    "# noqa", "# noqa: MLR101", "# noqa:", "# noqa: MLR", "# mlrepro: noqa", "# mlrepro: noqa: MLR201", "# -*- coding: latin-1 -*-",
    "# type: ignore", "# expect: MLR101",
    # hostile literals
    "9" * 5000, "1e400", "-0.0", "0x" + "f" * 64, "1_000", "'\\N{BULLET}'", "'\\x00'", "\x00", "\ufeff", "\u2028", "\U0001f600",
    "é", "\udcff", "ℌ", "٣",
)

_OPENERS = ("if x:", "for i in y:", "while z:", "with a as b:", "def f():", "class C:", "try:", "async def g():")


def deep_nesting(rng: random.Random) -> str:
    """Code nested beyond what the parser, the compiler or a recursive visitor can take."""
    depth = rng.choice((30, 100, 250, 1000, 5000))
    kind = rng.randrange(6)
    if kind == 0:  # blocks
        lines = [" " * i + rng.choice(_OPENERS) for i in range(depth)]
        return "\n".join(lines) + "\n" + " " * depth + "np.random.seed(0)\n"
    if kind == 1:  # parentheses and brackets
        opener = rng.choice("([{")
        closer = {"(": ")", "[": "]", "{": "}"}[opener]
        return "x = " + opener * depth + "1" + closer * depth + "\n"
    if kind == 2:  # a long left-leaning chain: shallow source, deep tree
        op = rng.choice((" + ", ".", " or ", " if a else ", "[0]", "()", " ** "))
        return "x = np" + "".join(op + "a" if op[0] == " " else op for _ in range(depth)) + "\n"
    if kind == 3:  # nested calls around a draw
        return "y = " + "f(" * depth + "np.random.rand()" + ")" * depth + "\n"
    if kind == 4:  # nested lambdas / comprehensions
        return "z = " + "lambda: " * depth + "random.random()\n"
    return "w = " + "[" * depth + "torch.randn(2) for _ in r]" + "]" * (depth - 1) + "\n"


def _insert_lines(source: str, block: str, rng: random.Random) -> str:
    lines = source.split("\n")
    at = rng.randrange(len(lines) + 1)
    indent = ""
    if at < len(lines):
        line = lines[at]
        indent = line[: len(line) - len(line.lstrip())]
    block_lines = [indent + line if line else line for line in block.split("\n")]
    return "\n".join(lines[:at] + block_lines + lines[at:])


def _mutate_once(source: str, rng: random.Random, donors: Sequence[str]) -> str:
    n = len(source)
    op = rng.randrange(12)
    if op == 0 and n:  # truncate
        return source[: rng.randrange(n)]
    if op == 1:  # insert random tokens at a random place
        at = rng.randrange(n + 1)
        return source[:at] + " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 6))) + source[at:]
    if op == 2 and n:  # delete a span
        a = rng.randrange(n)
        return source[:a] + source[a + rng.randint(1, 80):]
    if op == 3:  # nest deeply
        return _insert_lines(source, deep_nesting(rng), rng)
    if op == 4:  # splice in lines of another source at the same indentation
        donor = rng.choice(donors).split("\n") if donors else [""]
        a = rng.randrange(len(donor))
        return _insert_lines(source, "\n".join(donor[a: a + rng.randint(1, 12)]), rng)
    if op == 5:  # wrap everything in blocks
        depth = rng.randint(1, 40)
        body = "\n".join(" " * depth + line for line in source.split("\n"))
        return "\n".join(" " * i + rng.choice(_OPENERS) for i in range(depth)) + "\n" + body
    if op == 6:  # swap or duplicate lines
        lines = source.split("\n")
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if rng.random() < 0.5:
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(i, lines[j])
        return "\n".join(lines)
    if op == 7:  # line endings, tabs, BOM, coding cookie
        choice = rng.randrange(5)
        if choice == 0:
            return source.replace("\n", "\r\n")
        if choice == 1:
            return source.replace("    ", "\t")
        if choice == 2:
            return "\ufeff" + source
        if choice == 3:
            return rng.choice(("# -*- coding: latin-1 -*-\n", "# coding: utf-16\n", "# coding: nope\n", "#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\n")) + source
        return source.replace("\n", "\r")
    if op == 8:  # rename what the rules resolve
        old, new = rng.choice((("np", "numpy"), ("torch", "tf"), ("random", "np.random"), ("seed", "shuffle"), ("True", "False"),
                               ("import ", "from . import "), ("0", "None"), ("(", "(*"), ("def ", "async def "), ("mlflow", "m")))
        return source.replace(old, new)
    if op == 9:  # replace a number with a hostile one
        return source.replace(rng.choice("0123456789"), rng.choice(("9" * 4300, "1e400", "-0.0", "0b1", "nan", "(-1)")), 1)
    if op == 10:  # suppression comments on random lines
        lines = source.split("\n")
        i = rng.randrange(len(lines))
        lines[i] += rng.choice(("  # noqa", "  # noqa: MLR1", "  # noqa:MLR101,MLR2", "  # NOQA : mlr201", "  # mlrepro: noqa"))
        return "\n".join(lines)
    # a block of generated code (another seed or a donor) joined at the end
    return source + "\n" + rng.choice(donors or SEEDS)


def mutate(source: str, rng: random.Random, donors: Sequence[str] = SEEDS) -> str:
    for _ in range(rng.randint(1, 4)):
        source = _mutate_once(source, rng, donors)
    return source


def as_notebook(source: str, rng: random.Random) -> bytes:
    """The source cut into code cells (and a markdown cell or an IPython magic here and there)."""
    lines = source.splitlines(keepends=True)
    cells = []
    while lines:
        take = rng.randint(1, 12)
        chunk, lines = lines[:take], lines[take:]
        if rng.random() < 0.1:
            chunk.insert(0, rng.choice(("%matplotlib inline\n", "!pip install torch \\\n", "%%time\n", "?np\n")))
        kind = "markdown" if rng.random() < 0.1 else "code"
        cells.append({"cell_type": kind, "metadata": {}, "source": chunk, **({"outputs": [], "execution_count": None} if kind == "code" else {})})
    document = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document).encode("utf-8", "surrogatepass")


def write_source(path: Path, source: str) -> None:
    path.write_bytes(source.encode("utf-8", "surrogateescape") if path.suffix != ".ipynb" else source.encode())


def bad_result(result: object) -> str | None:
    """Why a linter's answer is not a list of well-formed findings, or None."""
    if not isinstance(result, list):
        return f"not a list: {type(result).__name__}"
    for finding in result:
        if not isinstance(finding, Finding):
            return f"not a Finding: {finding!r}"
        if not finding.code.startswith("MLR") or not finding.message:
            return f"no code or message: {finding!r}"
        if finding.location is not None and (finding.location.row < 1 or finding.location.column < 1):
            return f"location not 1-based: {finding!r}"
    return None


# -- generated projects ----------------------------------------------------------------------
# Statement shapes the project-wide lint reasons about: seeds, draws, helpers, imports of the
# project's own modules, entry points that train.
IMPORTS = ("import random", "import numpy as np", "import torch", "from torch import nn", "import tensorflow as tf",
           "import mlflow", "from torch.utils.data import DataLoader")
SEEDING = ("random.seed(0)", "np.random.seed(1)", "torch.manual_seed(2)", "torch.cuda.manual_seed_all(3)",
           "torch.backends.cudnn.deterministic = True", "torch.use_deterministic_algorithms(True)",
           "tf.random.set_seed(4)", "os.environ['PYTHONHASHSEED'] = '0'")
DRAWS = ("x = np.random.rand(3)", "y = random.random()", "z = torch.randn(4)", "p = torch.randperm(5)",
         "loader = DataLoader(ds, shuffle=True, num_workers=2)", "conv = nn.Conv2d(3, 8, 3)", "net = net.cuda()",
         "torch.backends.cudnn.benchmark = True", "w = tf.random.normal([2])", "mlflow.start_run()", "random.shuffle(items)")
TRAINING = ("loss.backward()", "optimizer.step()", "model.fit(X, y)", "trainer.fit(model)")


def project_modules(rng: random.Random, count: int) -> dict[str, str]:
    """``count`` modules (some in a package) that import each other, define seeding helpers,
    draw, and some of which are entry points that train."""
    names = [f"m{i}" if i % 3 else f"pkg/m{i}" for i in range(count)]
    dotted = [n.replace("/", ".") for n in names]
    files: dict[str, str] = {"pkg/__init__.py": ""} if any("/" in n for n in names) else {}
    for i, name in enumerate(names):
        lines = ["import os", *rng.sample(IMPORTS, rng.randint(0, len(IMPORTS)))]
        others = [j for j in range(count) if j != i]
        for j in rng.sample(others, min(len(others), rng.randint(0, 3))):
            lines.append(rng.choice((f"import {dotted[j]}", f"from {dotted[j]} import seed_all_{j}", f"from {dotted[j]} import *")))
        body: list[str] = []
        if rng.random() < 0.6:  # a seeding helper, maybe calling another module's
            helper = [f"def seed_all_{i}(seed=0):"] + ["    " + s for s in rng.sample(SEEDING, rng.randint(1, 3))]
            if others and rng.random() < 0.3:
                helper.append(f"    seed_all_{rng.choice(others)}(seed)")
            body += helper + [""]
        statements = rng.sample(DRAWS, rng.randint(0, 4)) + rng.sample(SEEDING, rng.randint(0, 2))
        if others and rng.random() < 0.4:
            statements.append(f"seed_all_{rng.choice(others)}()")
        rng.shuffle(statements)
        if rng.random() < 0.4:  # an entry point
            main = ["def main():"] + ["    " + s for s in statements + rng.sample(TRAINING, rng.randint(0, 2))] + ["    pass"]
            body += main + ["", "", "if __name__ == '__main__':", "    main()"]
        else:
            body += statements
        files[f"{name}.py"] = "\n".join(lines + [""] + body) + "\n"
    return files
