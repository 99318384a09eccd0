"""The linter on any source (#17 fuzzing): grammar-generated Python (hypothesmith) and
mutations of our own training-code fixtures give a list of findings, never an exception, per
file and project-wide; and a generated project's findings do not depend on the order of the
paths, on ``jobs`` or on the cache. The long run is ``benchmarks/fuzz_lint.py``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import hypothesmith
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from source_fuzz import SEEDS, as_notebook, bad_result, deep_nesting, mutate, project_modules, write_source

from mlrepro.config import Settings, resolve_settings
from mlrepro.findings import Finding
from mlrepro.lint.engine import Linter, lint_paths

def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def project(directory: Path) -> Settings:
    (directory / "pyproject.toml").write_text("[tool.mlrepro]\n")
    return resolve_settings(directory)


def lint_one(source: str, name: str = "train.py") -> list[Finding]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        configured = project(root)
        path = root / name
        write_source(path, source)
        findings = Linter(configured).lint_file(path)
        assert bad_result(findings) is None, bad_result(findings)
        # The project-wide run reads the file again, with a module beside it that imports it.
        (root / "entry.py").write_text("import numpy as np\nimport train\n\nif __name__ == '__main__':\n    np.random.rand()\n    loss.backward()\n")
        for cache in (False, True, True):
            result = lint_paths([root], configured, cwd=root, jobs=1, cache=cache)
            assert bad_result(result.findings) is None, bad_result(result.findings)
        return findings


@fuzz(60)
@given(hypothesmith.from_grammar())
def test_grammar_generated_python_gives_findings_not_exceptions(source: str) -> None:
    lint_one(source)


@fuzz(300)
@given(st.sampled_from(SEEDS), st.randoms(use_true_random=False), st.booleans())
@example(SEEDS[0], random.Random(0), False)
def test_mutated_training_code_gives_findings_not_exceptions(seed: str, rng: random.Random, notebook: bool) -> None:
    source = mutate(seed, rng)
    if notebook:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.ipynb"
            path.write_bytes(as_notebook(source, rng))
            findings = Linter(project(Path(tmp))).lint_file(path)
            assert bad_result(findings) is None, bad_result(findings)
    else:
        lint_one(source)


@fuzz(40)
@given(st.randoms(use_true_random=False))
def test_deeply_nested_code_is_a_finding_or_linted(rng: random.Random) -> None:
    lint_one("import numpy as np\nimport random\nimport torch\n" + deep_nesting(rng))


def test_a_draw_nested_deeper_than_the_recursion_limit_is_still_judged() -> None:
    """A shallow source whose tree is too deep for a recursive visitor is a finding
    (unparsable or the draw itself), not a crash and not silence."""
    for depth in (500, 900, 5000):
        source = "import numpy as np\nx = np" + " + a" * depth + "\ny = np.random.rand()\n"
        codes = {f.code for f in lint_one(source)}
        assert codes & {"MLR001", "MLR103"}, (depth, codes)


def found(result_findings: list[Finding]) -> list[tuple[str, int, int, str, str]]:
    return [(f.filename or "", f.location.row if f.location else 0, f.location.column if f.location else 0, f.code, f.message) for f in result_findings]


@fuzz(25)
@given(st.integers(min_value=2, max_value=7).flatmap(lambda n: st.tuples(st.just(n), st.randoms(use_true_random=False))))
def test_a_generated_projects_findings_do_not_depend_on_order_jobs_or_cache(case: tuple[int, random.Random]) -> None:
    count, rng = case
    files = project_modules(rng, count)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        configured = project(root)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        modules = [root / name for name in files if name.endswith(".py")]
        reported = rng.sample(modules, rng.randint(1, len(modules)))
        shuffled = rng.sample(reported, len(reported))

        def run(paths: list[Path], jobs: int, cache: bool, whole: bool = True) -> list[tuple[str, int, int, str, str]]:
            return found(lint_paths(paths, configured, cwd=root, jobs=jobs, cache=cache, project=whole).findings)

        fresh = run(reported, 1, False)
        assert run(shuffled, 1, False) == fresh, "the order of the paths changed the findings"
        assert run(shuffled, 2, False) == fresh, "jobs=2 changed the findings"
        assert run(reported, 1, True) == fresh, "the first cached run changed the findings"
        assert run(shuffled, 2, True) == fresh, "a run from the cache changed the findings"
        alone = run(reported, 1, False, whole=False)  # --no-project: each file judged alone
        assert run(shuffled, 2, False, whole=False) == alone, "jobs=2 or the order changed the findings of --no-project"
        # The whole project named by its directory reports every module: the same findings.
        whole = run([root], 1, False)
        assert [f for f in whole if f[0] in {p.relative_to(root).as_posix() for p in reported}] == fresh


def test_pythons_syntax_warnings_about_the_linted_code_are_not_printed(tmp_path: Path) -> None:
    """Found by the fuzz run: ``1if x else 2`` made ``ast.parse`` write SyntaxWarnings to the
    terminal, outside the findings and their format (a JSON consumer reading stderr, a CI log)."""
    project(tmp_path)
    (tmp_path / "train.py").write_text("import random\nx = 1if True else 2\ny = 12not in z\nrandom.random()\n")
    result = subprocess.run(
        [sys.executable, "-W", "default", "-m", "mlrepro", "lint", "train.py", "--output-format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert [f["code"] for f in json.loads(result.stdout)] == ["MLR101"]
    assert result.stderr == ""
