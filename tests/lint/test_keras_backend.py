"""Keras 3 on the PyTorch backend: which backend a file chooses, and what the seed and cuDNN
rules then say about its Keras layers (Keras's seed, torch's generator, cuDNN)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from mlrepro.config import CliOverrides, resolve_settings
from mlrepro.lint.context import ModuleContext
from mlrepro.lint.engine import Linter, lint_paths
from mlrepro.lint.keras_backend import keras_backend

SET = 'import os\nos.environ["KERAS_BACKEND"] = "torch"\n'


@pytest.mark.parametrize(("source", "backend"), [
    (SET + "import keras\n", "torch"),
    ('import os\nos.environ.setdefault("KERAS_BACKEND", "torch")\nimport keras\n', "torch"),
    ('import os\nos.environ.update(KERAS_BACKEND="torch")\nimport keras\n', "torch"),
    ('import os\nos.environ.update({"KERAS_BACKEND": "jax"})\nimport keras\n', "jax"),
    ('from os import environ\nenviron["KERAS_BACKEND"] = "torch"\nfrom keras import layers\n', "torch"),
    ('import os\nif "KERAS_BACKEND" not in os.environ:\n    os.environ["KERAS_BACKEND"] = "torch"\nimport keras\n', "torch"),
    ('import os\nos.environ["KERAS_BACKEND"] = "jax"\nos.environ.setdefault("KERAS_BACKEND", "torch")\nimport keras\n', "jax"),
    # Too late, hidden in a function, computed, or not set at all: TensorFlow, the default.
    ('import os\nimport keras\nos.environ["KERAS_BACKEND"] = "torch"\n', "tensorflow"),
    ('import os\nimport keras\ndef main():\n    os.environ["KERAS_BACKEND"] = "torch"\n', "tensorflow"),
    ('import os\nos.environ["KERAS_BACKEND"] = os.getenv("BACKEND")\nimport keras\n', "tensorflow"),
    ('import os\nos.putenv("KERAS_BACKEND", "torch")\nimport keras\n', "tensorflow"),
    ("import keras\n", "tensorflow"),
])
def test_the_backend_a_module_chooses(source: str, backend: str) -> None:
    tree = ast.parse(source)
    assert keras_backend(ModuleContext.build("m.py", source, tree)) == backend


MODEL = """
import keras
import torch
from keras import layers

model = keras.Sequential([
    layers.Input(shape=(28, 28, 1)),
    layers.Conv2D(32, kernel_size=3),
    layers.Flatten(),
    layers.Dropout(0.5),
    layers.Dense(10),
])
inputs = torch.zeros(1, 28, 28, 1).cuda()
"""
CODES = ("MLR105", "MLR107", "MLR201")


def lint(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(text).lstrip())
    settings = resolve_settings(tmp_path, overrides=CliOverrides(select=CODES), isolated=True)
    return sorted((f.location.row if f.location else 0, f.code, f.message) for f in Linter(settings).lint_file(path))


def test_an_unseeded_keras_model_on_torch_names_keras_torch_and_cudnn(tmp_path: Path) -> None:
    found = lint(tmp_path, SET + MODEL)
    assert [(row, code) for row, code, _ in found] == [(10, "MLR107"), (10, "MLR201"), (12, "MLR105"), (13, "MLR107")]
    for _, code, message in found:
        if code == "MLR107":
            assert "Keras's global seed" in message and "`keras.utils.set_random_seed(...)`" in message
            assert "TensorFlow" not in message and "tf.random.set_seed" not in message
    messages = {code: message for _, code, message in found}
    assert "torch's global generator on Keras's torch backend" in messages["MLR105"]
    assert "`keras.layers.Conv2D` runs on CUDA through Keras's torch backend" in messages["MLR201"]


def test_keras_seeding_and_cudnn_determinism_make_it_quiet(tmp_path: Path) -> None:
    seeded = SET + MODEL + "keras.utils.set_random_seed(0)\ntorch.backends.cudnn.deterministic = True\n"
    assert lint(tmp_path, seeded) == []


def test_torch_manual_seed_seeds_the_dropout_not_the_initialisers(tmp_path: Path) -> None:
    found = lint(tmp_path, SET + MODEL + "torch.manual_seed(0)\n")
    assert {code for _, code, _ in found} == {"MLR107", "MLR201"}


def test_the_tensorflow_default_is_unchanged(tmp_path: Path) -> None:
    found = lint(tmp_path, "import os\n" + MODEL)
    assert [(row, code) for row, code, _ in found] == [(9, "MLR107"), (11, "MLR107"), (12, "MLR107")]
    assert all("TensorFlow's global seed" in message and "tf.random.set_seed" in message for _, _, message in found)


def test_a_project_seeding_helper_that_calls_keras_seeds_torch_on_the_torch_backend(tmp_path: Path) -> None:
    """The helper's module runs on the default backend; the entry point that calls it chooses
    torch, so there the helper's ``keras.utils.set_random_seed`` seeds torch too. The entry point
    trains (``backward``): an evaluation script's dropout would not be reported anyway."""
    (tmp_path / "pyproject.toml").write_text("[tool.mlrepro]\n")
    (tmp_path / "seeding.py").write_text("import keras\n\n\ndef prepare(seed):\n    keras.utils.set_random_seed(seed)\n")
    (tmp_path / "train.py").write_text(
        SET + "import keras\n\nfrom seeding import prepare\n\nprepare(0)\ndrop = keras.layers.Dropout(0.5)\n"
        "\n\ndef step(loss):\n    loss.backward()\n"
    )
    settings = resolve_settings(tmp_path, overrides=CliOverrides(select=CODES))
    result = lint_paths([tmp_path / "train.py"], settings, cwd=tmp_path)
    assert [(f.filename, f.code) for f in result.findings] == []
    alone = lint_paths([tmp_path / "train.py"], settings, cwd=tmp_path, project=False)
    assert [f.code for f in alone.findings] == ["MLR105"]
