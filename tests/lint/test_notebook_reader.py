"""The notebook reader: IPython syntax skipped whole (#12.7), and no exception but
NotebookError on any input (#17 fuzzing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrepro.lint.notebook import NotebookError, read_notebook


def notebook(*cells: list[str]) -> bytes:
    return json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in cells],
        "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5,
    }).encode()


CONTINUED = [
    ["!pip install numpy \\\n", "    scikit-learn \\\n", "  torch\n", "import random\n", "random.shuffle([1, 2])\n"],
    ["%time x = \\\n", "    sum(range(10))\n", "import random\n", "random.random()\n"],
    ["files = !ls \\\n", "  -la\n", "if True:\n", "    %env A=1 \\\n", "        B=2\n", "    import random\n", "    random.random()\n"],
    ["%%bash\n", "pip install a \\\n", "  b\n", "echo done\n"],
    ["import random\n", "%matplotlib inline\n", "random.random()\n"],
]


def test_continued_magics_and_shell_escapes_are_skipped_whole_and_lines_stay_right() -> None:
    source = read_notebook(notebook(*CONTINUED))
    compile(source.source, "nb", "exec")  # the continuation lines are no longer a syntax error
    lines = source.source.split("\n")
    # Every Python line keeps its cell and its line in the cell.
    for cell_number, cell in enumerate(CONTINUED, start=1):
        for line_number, text in enumerate(cell, start=1):
            if text.lstrip().startswith(("import", "random", "if")):
                row = lines.index(text.rstrip("\n"), sum(len(c) for c in CONTINUED[: cell_number - 1])) + 1
                assert source.locate(row) == (cell_number, line_number)


def test_a_notebook_with_continued_shell_lines_is_linted(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\n")
    (tmp_path / "train.ipynb").write_bytes(notebook(*CONTINUED))
    result = subprocess.run(
        [sys.executable, "-m", "mlrepro", "lint", "train.ipynb", "--output-format", "json"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    found = [(f["code"], f["cell"], f["location"]["row"]) for f in json.loads(result.stdout)]
    assert ("MLR001" not in {code for code, _, _ in found}), found
    assert found == [("MLR101", 1, 5), ("MLR101", 2, 4), ("MLR101", 3, 7), ("MLR101", 5, 3)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
cell_text = st.lists(st.sampled_from(["%%bash", "%time x = \\", "!pip \\", "  b", "x = 1 \\", "?", "%%", "\\", "", "  ", "a?", "%%time"]) | st.text(max_size=20), max_size=6)
cells = st.lists(
    st.fixed_dictionaries({"cell_type": st.sampled_from(["code", "markdown", 3]), "source": st.one_of(cell_text, cell_text.map("\n".join), json_values)}),
    max_size=4,
)
documents = st.fixed_dictionaries({"cells": cells, "metadata": json_values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()), documents.map(lambda d: json.dumps(d).encode())))
def test_no_exception_but_notebook_error_on_any_input(data: bytes) -> None:
    try:
        source = read_notebook(data)
    except NotebookError:
        return
    assert source.source.count("\n") == len(source.line_map)
    assert all(cell >= 1 and line >= 1 for cell, line in source.line_map)
