"""MLR109's message says where an estimator without ``random_state`` draws from, and whether the
file seeds that generator (NumPy's global one)."""

from __future__ import annotations

from pathlib import Path

from mlrepro.config import CliOverrides, resolve_settings
from mlrepro.lint.engine import Linter


def messages(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "train.py"
    path.write_text(text)
    settings = resolve_settings(tmp_path, overrides=CliOverrides(select=("MLR109",)), isolated=True)
    return [f.message for f in Linter(settings).lint_file(path)]


FIT = "from sklearn.ensemble import RandomForestClassifier\nclf = RandomForestClassifier({})\n"


def test_an_unseeded_file_is_told_it_never_seeds_numpy(tmp_path: Path) -> None:
    [message] = messages(tmp_path, FIT.format(""))
    assert "`RandomForestClassifier()` is random but gets no `random_state`" in message
    assert "draws from NumPy's global generator, which this file never seeds" in message
    assert message.endswith("pass `random_state=<seed>`")


def test_a_seeded_file_is_told_the_draw_depends_on_every_draw_before_it(tmp_path: Path) -> None:
    [message] = messages(tmp_path, "import numpy as np\nnp.random.seed(0)\n" + FIT.format("random_state=None"))
    assert message.startswith("`RandomForestClassifier(random_state=None)` is random")
    assert "depends on every draw from NumPy's global generator before it" in message
    assert "never seeds" not in message
