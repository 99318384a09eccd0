from __future__ import annotations

import pytest

from mlrepro.selection import PathMatcher, SelectionLayer, normalise_selectors, resolve

CODES = ("MLR001", "MLR101", "MLR102", "MLR103", "MLR201", "MLR301")


def on(*layers: SelectionLayer) -> list[str]:
    return sorted(resolve(CODES, layers))


def test_everything_is_on_by_default() -> None:
    assert on() == list(CODES)
    assert on(SelectionLayer(), SelectionLayer()) == list(CODES)


def test_select_replaces_and_extend_select_adds() -> None:
    assert on(SelectionLayer(select=("MLR1",))) == ["MLR101", "MLR102", "MLR103"]
    assert on(SelectionLayer(select=("MLR1",), extend_select=("MLR301",))) == ["MLR101", "MLR102", "MLR103", "MLR301"]


def test_most_specific_prefix_wins_and_ignore_wins_ties() -> None:
    assert on(SelectionLayer(select=("MLR1",), ignore=("MLR101",))) == ["MLR102", "MLR103"]
    assert on(SelectionLayer(ignore=("MLR1",), extend_select=("MLR102",))) == ["MLR001", "MLR102", "MLR201", "MLR301"]
    assert on(SelectionLayer(select=("MLR101",), ignore=("MLR101",))) == []
    assert on(SelectionLayer(select=("ALL",), ignore=("MLR",))) == []


def test_command_line_layer_overrides_the_file() -> None:
    file = SelectionLayer(select=("MLR1",), ignore=("MLR102",))
    assert on(file, SelectionLayer(select=("MLR2",))) == ["MLR201"]
    assert on(file, SelectionLayer(ignore=("MLR101",))) == ["MLR103"]
    assert on(file, SelectionLayer(extend_select=("MLR102",))) == ["MLR101", "MLR102", "MLR103"]


def test_unknown_selectors_are_rejected() -> None:
    assert normalise_selectors(["mlr1", " ALL "], CODES, "select") == ("MLR1", "ALL")
    with pytest.raises(ValueError, match="'MLR999' matches no rule code"):
        normalise_selectors(["MLR999"], CODES, "select")
    # Another tool's code or a typo selects nothing: an error, as in ruff. Team rules are known codes.
    for other in ("E501", "NOPE", "ACME001"):
        with pytest.raises(ValueError, match=f"'{other}' matches no rule code"):
            normalise_selectors([other], CODES, "ignore")
    assert normalise_selectors(["acme"], (*CODES, "ACME001"), "ignore") == ("ACME",)


@pytest.mark.parametrize(
    ("patterns", "path", "matched"),
    [
        (("tests/fixtures",), "tests/fixtures/lint/a.py", True),
        (("tests/fixtures",), "src/tests/fixtures/a.py", False),
        (("test_*.py",), "src/pkg/test_model.py", True),
        (("*.ipynb",), "notebooks/explore.ipynb", True),
        (("notebooks/**/*.py",), "notebooks/a/b/c.py", True),
        (("notebooks/*.py",), "notebooks/a/c.py", False),
        ((".venv",), "proj/.venv/lib/x.py", True),
        (("scripts/",), "scripts/run.py", True),
    ],
)
def test_globs(patterns: tuple[str, ...], path: str, matched: bool) -> None:
    assert PathMatcher(patterns).matches(path) is matched
