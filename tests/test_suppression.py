from __future__ import annotations

from mlrepro.suppression import file_suppression, line_suppresses


def test_line_noqa() -> None:
    assert line_suppresses("x = random.random()  # noqa", "MLR101")
    assert line_suppresses("x = random.random()  # noqa: MLR101", "MLR101")
    assert line_suppresses("x = random.random()  # NOQA:MLR103,MLR101", "MLR101")
    assert line_suppresses("x = random.random()  # noqa: E501 MLR101", "MLR101")
    assert not line_suppresses("x = random.random()  # noqa: MLR102", "MLR101")
    assert not line_suppresses("x = random.random()  # noqa: E501", "MLR101")
    assert not line_suppresses("x = random.random()", "MLR101")


def test_file_level_directive() -> None:
    assert file_suppression("import random\n") is None
    bare = file_suppression("# mlrepro: noqa\nimport random\n")
    assert bare is not None and bare.covers("MLR101") and bare.covers("MLR301")
    some = file_suppression("import random\n  # mlrepro: noqa: MLR1, MLR301\n")
    assert some is not None and some.covers("MLR103") and some.covers("MLR301") and not some.covers("MLR201")
    # Not at the start of a line: a string or a trailing comment does not silence a whole file.
    assert file_suppression('x = "# mlrepro: noqa"\n') is None
