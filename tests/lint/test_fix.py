"""`mlrepro lint --fix`: every fix on its before/after fixture, and ruff's options around it.

Each fixture pair under tests/fixtures/fix/ is ``<CODE>_<what>.py`` (before) and
``<CODE>_<what>.fixed.py`` (after ``lint --fix --unsafe-fixes --select CODE``). A fix must give
exactly the after file, which parses, lints clean for the rule, keeps every comment, and
changes the syntax tree only where the findings are (or adds the few module-level statements a
fix may add: a ``SEED`` constant, a seeding call, an import).
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tokenize
from collections import Counter
from pathlib import Path

import pytest

from mlrepro.cli import main
from mlrepro.lint.notebook import read_notebook

ROOT = Path(__file__).resolve().parents[2]
FIX_FIXTURES = ROOT / "tests" / "fixtures" / "fix"
BEFORE = sorted(p for p in FIX_FIXTURES.iterdir() if ".fixed." not in p.name)


def fixed_of(path: Path) -> Path:
    return path.with_name(f"{path.stem}.fixed{path.suffix}")


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(["lint", "--isolated", "--no-cache", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def python_source(path: Path) -> str:
    data = path.read_bytes()
    return read_notebook(data).source if path.suffix == ".ipynb" else data.decode("utf-8")


def comments(source: str) -> Counter[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return Counter(t.string for t in tokens if t.type == tokenize.COMMENT)


# -- the syntax tree outside the fixed nodes ---------------------------------------------------


def ast_changes(before: ast.AST, after: ast.AST) -> list[tuple[ast.AST | None, object, object]]:
    """The smallest differing parts of two trees: (owner, old, new), where a list that gained or
    lost items gives the slices (old and new lists) with the node owning the list."""
    out: list[tuple[ast.AST | None, object, object]] = []

    def walk(a: object, b: object, owner: ast.AST | None) -> None:
        if type(a) is not type(b):
            out.append((owner, a, b))
            return
        if not isinstance(a, ast.AST):
            if a != b:
                out.append((owner, a, b))
            return
        for name in a._fields:
            va, vb = getattr(a, name, None), getattr(b, name, None)
            if isinstance(va, list) and isinstance(vb, list):
                lists(va, vb, a)
            elif isinstance(va, ast.AST) or isinstance(vb, ast.AST):
                walk(va, vb, a)
            elif va != vb:
                out.append((a, a, b))
                return

    def lists(la: list[object], lb: list[object], owner: ast.AST) -> None:
        da = [ast.dump(x) if isinstance(x, ast.AST) else repr(x) for x in la]
        db = [ast.dump(x) if isinstance(x, ast.AST) else repr(x) for x in lb]
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, da, db, autojunk=False).get_opcodes():
            if op == "equal":
                continue
            old, new = la[i1:i2], lb[j1:j2]
            if op == "replace" and len(new) > len(old):
                # Statements a fix adds next to one it changes: set them apart, pair the rest.
                added = [n for n in new if _added_statement(n)][: len(new) - len(old)]
                if len(added) == len(new) - len(old):
                    out.append((owner, [], added))
                    new = [n for n in new if not any(n is a for a in added)]
            if op == "replace" and len(old) == len(new):
                for x, y in zip(old, new):
                    walk(x, y, owner)
            else:
                out.append((owner, old, new))

    walk(before, after, None)
    return out


SEED_ARGUMENTS = {"random_state", "random_seed", "seed", "generator"}
SEEDING = {"seed", "manual_seed", "set_seed", "set_random_seed"}


def _added_statement(node: object) -> bool:
    """What a fix may add at module level."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name) and "SEED" in target.id and isinstance(node.value, ast.Constant):
            return True
        if isinstance(target, ast.Attribute) and target.attr == "deterministic":
            return isinstance(node.value, ast.Constant) and node.value.value is True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name in SEEDING or "seed" in name  # a library's seeder, or the project's own helper
    return False


def _covers(node: object, rows: set[int]) -> bool:
    start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
    return start is not None and any(start <= row <= end for row in rows)


def _is_finish(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr in {"finish", "end_run"}
    )


def assert_changes_only_at_findings(before: str, after: str, rows: set[int]) -> None:
    """Every difference between the two trees is a fix at one of ``rows`` (the findings' lines
    in ``before``) or a module-level statement a fix adds."""
    _check(ast_changes(ast.parse(before), ast.parse(after)), rows)


def _check(changes: list[tuple[ast.AST | None, object, object]], rows: set[int]) -> None:
    for owner, old, new in changes:
        if isinstance(old, list) and isinstance(new, list):
            if isinstance(owner, ast.Module) and old:
                # SEED = 0 next to a ``with`` block that replaced the statements after a run's start.
                new = [n for n in new if not _added_statement(n)] or new
            if not old:
                if isinstance(owner, ast.Module) and all(_added_statement(n) for n in new):
                    continue  # SEED = 0, a seeding call, an import, the cuDNN switch
                if isinstance(owner, ast.Call) and _covers(owner, rows):
                    assert all(isinstance(n, ast.keyword) and n.arg in SEED_ARGUMENTS for n in new), ast.dump(owner)
                    continue
                if isinstance(owner, ast.Dict):
                    assert all(
                        (isinstance(n, ast.Constant) and n.value == "seed") or isinstance(n, (ast.Name, ast.Attribute)) for n in new
                    )
                    continue
            if len(new) == 1 and isinstance(new[0], ast.With) and old and _covers(old[0], rows):
                # A run's start and what follows it in its block, now a ``with`` block.
                start = old[0]
                call = start.value  # type: ignore[attr-defined]
                assert ast.dump(new[0].items[0].context_expr) == ast.dump(call)
                rest = old[1:-1] if _is_finish(old[-1]) else old[1:]
                assert len(new[0].body) == len(rest)
                for was, now in zip(rest, new[0].body):
                    _check(ast_changes(was, now), rows)  # fixes inside the block are at findings too
                continue
            raise AssertionError(f"unexpected change in {ast.dump(owner) if owner else None}: {old} -> {new}")
        # One node changed for another: it must be where a finding is.
        where = old if _covers(old, rows) else owner
        assert _covers(where, rows), f"a change away from the findings: {ast.dump(old) if isinstance(old, ast.AST) else old!r}"
        if isinstance(old, ast.Constant) and old.value is None:
            continue  # random_state=None -> the seed
        if isinstance(old, ast.Constant) and old.value is True:
            assert isinstance(new, ast.Constant) and new.value is False  # the autotuner switched off
            continue
        raise AssertionError(f"unexpected change: {ast.dump(old) if isinstance(old, ast.AST) else old!r} -> {new!r}")


# -- each fix on its fixture -------------------------------------------------------------------


@pytest.mark.parametrize("before", BEFORE, ids=[p.name for p in BEFORE])
def test_fix_gives_the_after_fixture(
    before: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = before.name.split("_", 1)[0]
    target = tmp_path / before.name
    shutil.copyfile(before, target)
    findings_before = json.loads(cli(capsys, monkeypatch, tmp_path, "--select", code, "--output-format", "json", before.name)[1])
    assert findings_before, f"{before.name} has no {code} finding to fix"

    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--select", code, "--fix", "--unsafe-fixes", before.name)
    assert status == 0, out
    assert "remaining)." in out and ", 0 remaining)." in out
    assert target.read_text(encoding="utf-8") == fixed_of(before).read_text(encoding="utf-8")

    old_source, new_source = python_source(before), python_source(target)
    ast.parse(new_source)
    assert comments(old_source) - comments(new_source) == Counter(), "a comment was lost"
    assert cli(capsys, monkeypatch, tmp_path, "--select", code, before.name)[0] == 0, "the rule still fires"
    if before.suffix == ".ipynb":
        rows_in_source = {
            joined for joined, where in enumerate(read_notebook(before.read_bytes()).line_map, start=1)
            if any((f["cell"], f["location"]["row"]) == where for f in findings_before)
        }
    else:
        rows_in_source = {f["location"]["row"] for f in findings_before}
    assert_changes_only_at_findings(old_source, new_source, rows_in_source)


def test_every_before_fixture_has_its_after_fixture() -> None:
    for path in BEFORE:
        assert fixed_of(path).is_file(), f"no {fixed_of(path).name}"
    for path in FIX_FIXTURES.iterdir():
        if ".fixed." in path.name:
            assert path.with_name(path.name.replace(".fixed", "")).is_file(), f"{path.name} has no before file"


def test_the_tree_check_catches_a_change_away_from_the_findings() -> None:
    before = "import x\n\na = f(1)\nb = g(2)\n"
    with pytest.raises(AssertionError):
        assert_changes_only_at_findings(before, "import x\n\na = f(1, random_state=SEED)\nb = g(3)\n", {3})
    assert_changes_only_at_findings(before, "import x\n\nSEED = 0\na = f(1, random_state=SEED)\nb = g(2)\n", {3})


# -- --diff, safety, exit codes --------------------------------------------------------------------


def test_diff_prints_a_unified_diff_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = FIX_FIXTURES / "MLR109_estimators.py"
    target = tmp_path / before.name
    shutil.copyfile(before, target)
    status, out, err = cli(capsys, monkeypatch, tmp_path, "--select", "MLR109", "--diff", before.name)
    assert status == 1
    assert target.read_bytes() == before.read_bytes()
    expected = "".join(
        difflib.unified_diff(
            before.read_text().splitlines(keepends=True), fixed_of(before).read_text().splitlines(keepends=True),
            fromfile=before.name, tofile=before.name,
        )
    )
    assert out == expected
    assert "Would fix 8 findings." in err
    (tmp_path / "clean.py").write_text("import random\n\nrandom.seed(1)\nrandom.shuffle([1, 2])\n")
    assert cli(capsys, monkeypatch, tmp_path, "--diff", "clean.py")[:2] == (0, "")


def test_unsafe_fixes_need_unsafe_fixes(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    before = FIX_FIXTURES / "MLR110_boosting.py"
    target = tmp_path / before.name
    shutil.copyfile(before, target)
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--select", "MLR110", "--fix", before.name)
    assert status == 1
    assert target.read_bytes() == before.read_bytes()
    assert out.splitlines()[-2:] == [
        "Found 5 findings.", "No fixes available (5 hidden fixes can be enabled with the `--unsafe-fixes` option).",
    ]


def test_missing_random_state_is_unsafe_where_numpy_is_seeded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a global NumPy seed the forest was already repeatable: a seed of its own changes it."""
    seeded = "import numpy as np\nfrom sklearn.ensemble import RandomForestClassifier\n\nnp.random.seed(0)\nmodel = RandomForestClassifier()\n"
    (tmp_path / "seeded.py").write_text(seeded)
    (tmp_path / "unseeded.py").write_text(seeded.replace("np.random.seed(0)\n", ""))
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--select", "MLR109", "--fix", "seeded.py", "unseeded.py")
    assert status == 1
    assert (tmp_path / "seeded.py").read_text() == seeded
    assert "RandomForestClassifier(random_state=SEED)" in (tmp_path / "unseeded.py").read_text()
    assert "Found 2 findings (1 fixed, 1 remaining)." in out
    assert cli(capsys, monkeypatch, tmp_path, "--select", "MLR109", "--fix", "--unsafe-fixes", "seeded.py")[0] == 0
    assert (tmp_path / "seeded.py").read_text() == seeded.replace(
        "from sklearn.ensemble import RandomForestClassifier\n", "from sklearn.ensemble import RandomForestClassifier\n\nSEED = 0\n"
    ).replace("RandomForestClassifier()", "RandomForestClassifier(random_state=SEED)")


def test_fix_only_exit_codes_and_show_fixes(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    source = (
        "import random\n\nfrom sklearn.ensemble import RandomForestClassifier\n\n"
        "model = RandomForestClassifier()\nrandom.shuffle([1, 2])\n"
    )
    (tmp_path / "train.py").write_text(source)
    # MLR101's fix is unsafe: one finding stays; --fix-only still exits 0 and says what it fixed.
    assert cli(capsys, monkeypatch, tmp_path, "--fix-only", "train.py")[:2] == (
        0, "Fixed 1 finding.\nNo fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).\n",
    )
    (tmp_path / "train.py").write_text(source)
    assert cli(capsys, monkeypatch, tmp_path, "--fix-only", "--exit-non-zero-on-fix", "train.py")[0] == 1
    (tmp_path / "train.py").write_text(source)
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--fix", "--show-fixes", "train.py")
    assert status == 1
    assert "Fixed 1 finding:\n- train.py:\n    1 × MLR109 (missing-random-state)\n\n" in out
    assert out.splitlines()[-2:] == [
        "Found 2 findings (1 fixed, 1 remaining).",
        "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).",
    ]
    assert cli(capsys, monkeypatch, tmp_path, "--fix", "--unsafe-fixes", "--exit-non-zero-on-fix", "train.py")[0] == 1
    assert cli(capsys, monkeypatch, tmp_path, "--fix", "--unsafe-fixes", "train.py")[0] == 0
    assert "random.seed(SEED)" in (tmp_path / "train.py").read_text()
    # --no-fix wins over --fix, as ruff's does.
    (tmp_path / "again.py").write_text(source)
    assert cli(capsys, monkeypatch, tmp_path, "--fix", "--no-fix", "again.py")[0] == 1
    assert (tmp_path / "again.py").read_text() == source


def test_show_fixes_marks_fixable_findings_and_json_carries_the_edits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train.py").write_text("from sklearn.cluster import KMeans\n\nkm = KMeans(n_clusters=3)\n")
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--show-fixes", "train.py")
    assert status == 1
    assert out.splitlines()[0].startswith("train.py:3:6: MLR109 [*] `KMeans()` is random")
    assert out.splitlines()[-1] == "[*] 1 fixable with the `--fix` option."
    plain = json.loads(cli(capsys, monkeypatch, tmp_path, "--output-format", "json", "train.py")[1])
    assert plain[0]["fix"]["applicability"] == "display-only"
    planned = json.loads(cli(capsys, monkeypatch, tmp_path, "--show-fixes", "--output-format", "json", "train.py")[1])
    assert planned[0]["fix"] == {
        "applicability": "safe",
        "message": "Pass `random_state=SEED` (adds `SEED = 0` after the imports) to the call",
        "edits": [
            {"content": "\nSEED = 0\n", "location": {"row": 2, "column": 1}, "end_location": {"row": 2, "column": 1}},
            {"content": ", random_state=SEED", "location": {"row": 3, "column": 25}, "end_location": {"row": 3, "column": 25}},
        ],
    }
    assert (tmp_path / "train.py").read_text().count("SEED") == 0


# -- when a fix would break the code -----------------------------------------------------------


def test_a_fix_that_would_not_parse_is_dropped_and_its_finding_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``resample(row for row in rows)`` takes a bare generator expression, which Python allows
    only as the sole argument: adding ``random_state=`` would be a syntax error. That fix is
    dropped (with its ``SEED`` constant); the other call of the file is still fixed."""
    source = (
        "from sklearn.utils import resample\n\nrows = [1, 2, 3]\n"
        "boot = resample(row for row in rows)\nother = resample(rows)\n"
    )
    (tmp_path / "boot.py").write_text(source)
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--select", "MLR109", "--fix", "boot.py")
    assert status == 1
    fixed = (tmp_path / "boot.py").read_text()
    assert "boot = resample(row for row in rows)\n" in fixed
    assert "other = resample(rows, random_state=SEED)\n" in fixed
    assert fixed.count("SEED = 0") == 1
    ast.parse(fixed)
    assert "boot.py:6:8: MLR109" in out and "(1 fixed, 1 remaining)" in out
    assert "fixable" not in out  # the fix that breaks the code is not on offer either


def test_a_broken_fixer_never_reaches_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrepro.lint import fixes
    from mlrepro.lint.fixing import SAFE, Proposal, TextEdit

    def broken(doc: fixes.Doc, target: object) -> Proposal:
        return Proposal("MLR109", SAFE, "break it", (TextEdit(0, 0, "def (:\n"),))

    monkeypatch.setitem(fixes.FIXERS, "MLR109", broken)
    source = "from sklearn.cluster import KMeans\n\nkm = KMeans(n_clusters=3)\n"
    (tmp_path / "train.py").write_text(source)
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--fix", "train.py")
    assert (status, (tmp_path / "train.py").read_text()) == (1, source)
    assert "Found 1 finding." in out


# -- passes: fixes that overlap wait for the next one --------------------------------------------


def test_overlapping_fixes_are_applied_over_several_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``with`` block re-indents the line of the estimator, and seeding NumPy inserts its
    lines where the ``SEED`` constant would go: each waits for a pass, and ``SEED`` is defined
    once, before its first use."""
    source = textwrap.dedent(
        """\
        import mlflow
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier

        run = mlflow.start_run()
        noise = np.random.rand(3)  # jitter
        model = RandomForestClassifier(n_estimators=10)
        mlflow.end_run()
        """
    )
    (tmp_path / "train.py").write_text(source)
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--fix", "--unsafe-fixes", "--select", "MLR103,MLR109,MLR302", "train.py")
    assert status == 0, out
    assert (tmp_path / "train.py").read_text() == textwrap.dedent(
        """\
        import mlflow
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier

        SEED = 0
        np.random.seed(SEED)

        with mlflow.start_run() as run:
            noise = np.random.rand(3)  # jitter
            model = RandomForestClassifier(n_estimators=10, random_state=SEED)
        """
    )
    assert "Found 3 findings (3 fixed, 0 remaining)." in out


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "changed"),
    [("fixable = [\"MLR1\"]\n", True), ("unfixable = [\"MLR109\"]\n", False), ("fixable = [\"MLR3\"]\n", False), ("", True)],
)
def test_fixable_and_unfixable(
    table: str, changed: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.mlrepro]\n{table}")
    source = "from sklearn.cluster import KMeans\n\nkm = KMeans(n_clusters=3)\n"
    (tmp_path / "train.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    main(["lint", "--no-cache", "--fix", "train.py"])
    assert ((tmp_path / "train.py").read_text() != source) is changed


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('fixable = ["E501"]', "[tool.mlrepro] fixable: 'E501' matches no rule code"),
        ('unfixable = "MLR109"', "[tool.mlrepro] unfixable must be a list of strings"),
    ],
)
def test_bad_fixable_settings_exit_2(
    table: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.mlrepro]\n{table}\n")
    (tmp_path / "train.py").write_text("from sklearn.cluster import KMeans\n\nkm = KMeans(n_clusters=3)\n")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["lint", "--no-cache", "--fix", "train.py"]) == 2
    assert message in capsys.readouterr().err


# -- notebooks -------------------------------------------------------------------------------------


def test_notebook_fix_keeps_outputs_and_other_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = FIX_FIXTURES / "MLR109_notebook.ipynb"
    target = tmp_path / before.name
    shutil.copyfile(before, target)
    cli(capsys, monkeypatch, tmp_path, "--fix", "--select", "MLR109", before.name)
    old, new = json.loads(before.read_text()), json.loads(target.read_text())
    assert {k: v for k, v in old.items() if k != "cells"} == {k: v for k, v in new.items() if k != "cells"}
    changed = []
    for number, (a, b) in enumerate(zip(old["cells"], new["cells"], strict=True), start=1):
        assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}
        if a["source"] != b["source"]:
            changed.append(number)
    assert changed == [2, 4]  # the imports' cell gained SEED, the model's cell its random_state
    assert new["cells"][1]["source"][0] == "!pip install scikit-learn\n"  # a magic, kept as written


# -- start-up: libcst only for files with something to fix ---------------------------------------


def test_libcst_is_loaded_only_for_files_with_a_finding_to_fix(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\n")
    (tmp_path / "train.py").write_text("from sklearn.cluster import KMeans\n\nkm = KMeans(n_clusters=3)\n")
    (tmp_path / "clean.py").write_text("import random\n\nrandom.seed(1)\nrandom.shuffle([1, 2])\n")
    probe = textwrap.dedent(
        """
        import sys
        from mlrepro.cli import main
        code = main(sys.argv[1:])
        print("LIBCST", "libcst" in sys.modules, code)
        """
    )

    def loaded(*args: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # this checkout, from any directory
        result = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
        return result.stdout.strip().splitlines()[-1]

    assert loaded("lint", "train.py") == "LIBCST False 1"
    assert loaded("lint", "--output-format", "json", "train.py") == "LIBCST False 1"
    assert loaded("lint", "--fix", "clean.py") == "LIBCST False 0"
    assert loaded("lint", "--diff", "train.py") == "LIBCST True 1"


# -- seeding after the imports: only names bound by then ------------------------------------------


def test_seeding_never_uses_a_module_imported_later(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """NumPy is imported after the first draw (a notebook's later cell reads the same way): the
    seeding lines import it themselves, and the fixed script runs."""
    source = textwrap.dedent(
        """\
        import random

        items = list(range(5))
        random.shuffle(items)
        import numpy as np

        print(items, np.random.rand(2))
        """
    )
    (tmp_path / "late.py").write_text(source)
    assert cli(capsys, monkeypatch, tmp_path, "--fix", "--unsafe-fixes", "--select", "MLR101,MLR103", "late.py")[0] == 0
    fixed = (tmp_path / "late.py").read_text()
    assert fixed.startswith("import random\nimport numpy as np\n\nSEED = 0\nrandom.seed(SEED)\nnp.random.seed(SEED)\n\nitems")
    run = subprocess.run([sys.executable, "late.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    again = subprocess.run([sys.executable, "late.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert again.stdout == run.stdout  # seeded: the same draws every run


def test_no_seeding_fix_through_a_name_bound_to_another_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from numpy import random``: ``random`` is NumPy's; ``import random`` would rebind it."""
    source = "from numpy import random\n\nrandom.shuffle([1, 2, 3])\n"
    (tmp_path / "trap.py").write_text(source)
    cli(capsys, monkeypatch, tmp_path, "--fix", "--unsafe-fixes", "trap.py")
    fixed = (tmp_path / "trap.py").read_text().splitlines()
    assert "import random" not in fixed
    assert "random.seed(SEED)" in fixed  # numpy.random's own seed(), through the name that binds it


def test_no_cudnn_fix_where_the_file_turns_determinism_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Switching it on at the top would only silence the rule: the later ``False`` wins."""
    source = (FIX_FIXTURES / "MLR201_conv.py").read_text().replace(
        'torch.manual_seed(0)\n', 'torch.manual_seed(0)\ntorch.backends.cudnn.deterministic = False  # speed\n'
    )
    (tmp_path / "conv.py").write_text(source)
    status, out, _ = cli(capsys, monkeypatch, tmp_path, "--select", "MLR201", "--fix", "--unsafe-fixes", "conv.py")
    assert (status, (tmp_path / "conv.py").read_text()) == (1, source)
    assert "MLR201" in out


def test_seeding_uses_the_projects_own_helper(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project index knows ``utils.set_seed`` seeds Python's and NumPy's generators, and the
    script imports ``utils``: the fix calls the helper rather than seeding each generator."""
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\n")
    (tmp_path / "utils.py").write_text(
        "import random\n\nimport numpy as np\n\n\ndef set_seed(seed):\n    random.seed(seed)\n    np.random.seed(seed)\n\n\n"
        "def load():\n    return list(range(10))\n"
    )
    (tmp_path / "train.py").write_text(
        "import random\n\nimport numpy as np\n\nimport utils\n\ndata = utils.load()\nrandom.shuffle(data)\nprint(data, np.random.rand(2))\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["lint", "--no-cache", "--fix", "--unsafe-fixes", "train.py"]) == 0
    assert (tmp_path / "train.py").read_text() == (
        "import random\n\nimport numpy as np\n\nimport utils\n\nSEED = 0\nutils.set_seed(SEED)\n\n"
        "data = utils.load()\nrandom.shuffle(data)\nprint(data, np.random.rand(2))\n"
    )
    runs = [subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60) for _ in range(2)]
    assert runs[0].returncode == 0 and runs[0].stdout == runs[1].stdout


def test_a_loader_in_an_imported_module_is_fixed_by_seeding_the_entry_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLR112 told at the entry point's import: no loader call there to give a generator, so
    torch is seeded after the imports (unsafe), which PyTorch passes on to the workers."""
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\n")
    (tmp_path / "data.py").write_text(
        "from torch.utils.data import DataLoader\n\n\ndef loader(dataset):\n"
        "    return DataLoader(dataset, batch_size=8, shuffle=True, num_workers=4)\n"
    )
    train = (
        "import torch\n\nfrom data import loader\n\nmodel = torch.nn.Linear(1, 1)\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for (batch,) in loader(torch.utils.data.TensorDataset(torch.zeros(16, 1))):\n"
        "    model(batch).sum().backward()\n    optimizer.step()\n"
    )
    (tmp_path / "train.py").write_text(train)
    monkeypatch.chdir(tmp_path)
    assert main(["lint", "--no-cache", "--select", "MLR112", "--fix", "train.py"]) == 1
    assert (tmp_path / "train.py").read_text() == train
    assert main(["lint", "--no-cache", "--select", "MLR112", "--fix", "--unsafe-fixes", "train.py"]) == 0
    assert (tmp_path / "train.py").read_text() == train.replace(
        "from data import loader\n", "from data import loader\n\nSEED = 0\ntorch.manual_seed(SEED)\n"
    )
