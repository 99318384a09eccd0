"""Project-wide lint: small multi-module projects, linted the way pre-commit and users run it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlrepro.config import resolve_settings
from mlrepro.lint.engine import lint_paths

UTILS = """
import random

import numpy as np
import torch


def set_all_seeds(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed):
    set_all_seeds(seed)
"""

MODEL = """
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.1)
"""

TRAIN_SEEDED = """
import torch

from model import Net
from utils.seeding import set_all_seeds


def main():
    set_all_seeds(1)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


if __name__ == "__main__":
    main()
"""

TRAIN_UNSEEDED = """
import torch

from model import Net


def main():
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


if __name__ == "__main__":
    main()
"""


def write(root: Path, files: dict[str, str]) -> Path:
    (root / "pyproject.toml").write_text("[tool.mlrepro]\n")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def lint(root: Path, *names: str, **kwargs: bool) -> list[tuple[str, int, str, str]]:
    settings = resolve_settings(root)
    result = lint_paths([root / n for n in names] or [root], settings, cwd=root, **kwargs)
    return [(f.filename or "", f.location.row if f.location else 0, f.code, f.message) for f in result.findings]


def codes(found: list[tuple[str, int, str, str]]) -> set[tuple[str, str]]:
    return {(name, code) for name, _, code, _ in found}


def test_a_model_seeded_by_its_only_entry_point_is_quiet(tmp_path: Path) -> None:
    root = write(tmp_path, {"utils/__init__.py": "", "utils/seeding.py": UTILS, "model.py": MODEL, "train.py": TRAIN_SEEDED})
    assert lint(root) == []
    # Judged on its own, the model module draws from an unseeded generator.
    alone = lint(root, "model.py", project=False)
    assert codes(alone) == {("model.py", "MLR105")}
    # As pre-commit passes it (the changed file only), the project is still read.
    assert lint(root, "model.py") == []


def test_the_entry_point_that_leaves_it_unseeded_gets_the_finding(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "utils/__init__.py": "", "utils/seeding.py": UTILS, "model.py": MODEL,
        "train.py": TRAIN_SEEDED, "finetune.py": TRAIN_UNSEEDED,
    })
    found = lint(root)
    assert codes(found) == {("finetune.py", "MLR105")}
    (name, row, code, message), = found
    assert (name, row) == ("finetune.py", 3)  # the import of the model
    assert "`model.py`, imported here" in message and "`nn.Linear(...)` at model.py:7" in message
    assert "this entry point never seeds it" in message


def test_a_helper_that_calls_a_helper_in_another_module_seeds(tmp_path: Path) -> None:
    train = """
    import torch
    from torch import nn

    from utils.seeding import setup

    setup(3)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    """
    root = write(tmp_path, {"utils/__init__.py": "", "utils/seeding.py": UTILS, "train.py": train})
    assert lint(root, "train.py") == []
    # Without the project, the helper's name alone does not say what it seeds.
    assert codes(lint(root, "train.py", project=False)) == {("train.py", "MLR105")}


def test_relative_imports_and_a_src_layout(tmp_path: Path) -> None:
    cli = """
    import torch

    from .helpers import seed_run
    from .net import Net

    def main():
        seed_run(0)
        model = Net()
        torch.optim.Adam(model.parameters())

    if __name__ == "__main__":
        main()
    """
    helpers = "import torch\n\n\ndef seed_run(seed):\n    torch.manual_seed(seed)\n"
    root = write(tmp_path, {
        "src/proj/__init__.py": "", "src/proj/helpers.py": helpers, "src/proj/net.py": MODEL, "src/proj/cli.py": cli,
    })
    assert lint(root) == []


def test_a_conditional_seed_leaves_the_generator_unseeded_by_default(tmp_path: Path) -> None:
    train = """
    import argparse

    import torch
    from torch import nn

    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if args.seed is not None:
        torch.manual_seed(args.seed)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    """
    root = write(tmp_path, {"train.py": train})
    found = lint(root)
    assert codes(found) == {("train.py", "MLR113"), ("train.py", "MLR105")}
    message = next(m for _, _, code, m in found if code == "MLR105")
    assert "seeds only when a seed is given (none is by default)" in message


def test_a_config_key_guard_is_a_seed_guard(tmp_path: Path) -> None:
    train = """
    import lightning as L
    import torch

    def train(cfg):
        if cfg.get("seed"):
            L.seed_everything(cfg.seed)
        model = torch.nn.Linear(2, 2)
        torch.optim.SGD(model.parameters(), lr=0.1)

    if __name__ == "__main__":
        train({})
    """
    root = write(tmp_path, {"train.py": train})
    assert ("train.py", "MLR113") in codes(lint(root))


FALLBACK_HELPER = """
import random

import torch


def set_seed(seed=None):
    if seed is None:
        seed = random.randint(0, 2**31 - 1)
    random.seed(seed)
    torch.manual_seed(seed)
    return seed
"""


@pytest.mark.parametrize(("call", "expected"), [
    # A config value with no default here: the helper draws a fresh seed when it is None.
    ("set_seed(cfg.seed)", {("train.py", "MLR113"), ("train.py", "MLR105")}),
    ("set_seed(seed=cfg.get('seed'))", {("train.py", "MLR113"), ("train.py", "MLR105")}),
    # No seed at all: the helper always draws one, a different seed every run.
    ("set_seed()", {("train.py", "MLR114"), ("train.py", "MLR105")}),
    # A literal or a plain variable is a seed.
    ("set_seed(0)", set()),
    ("set_seed(SEED)", set()),
])
def test_a_helper_that_draws_a_seed_when_given_none(tmp_path: Path, call: str, expected: set[tuple[str, str]]) -> None:
    train = f"""
    import torch

    from seeding import set_seed

    SEED = 3


    def main(cfg):
        {call}
        model = torch.nn.Linear(2, 2)
        torch.optim.SGD(model.parameters(), lr=0.1)


    if __name__ == "__main__":
        main(load_config())
    """
    root = write(tmp_path, {"seeding.py": FALLBACK_HELPER, "train.py": train})
    found = lint(root)
    assert codes(found) == expected
    if ("train.py", "MLR113") in expected:
        message = next(m for _, _, code, m in found if code == "MLR113")
        assert "`set_seed(...)` draws a random seed when `cfg." in message and "is None" in message


def test_a_seed_option_with_a_default_makes_the_fallback_unused(tmp_path: Path) -> None:
    train = """
    import argparse

    import torch

    from seeding import set_seed

    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    set_seed(args.seed)
    model = torch.nn.Linear(2, 2)
    torch.optim.SGD(model.parameters(), lr=0.1)
    """
    root = write(tmp_path, {"seeding.py": FALLBACK_HELPER, "train.py": train})
    assert lint(root) == []


ENV = """
import os
import random

import numpy as np


def seed_all_rng(seed=None):
    if seed is None:
        seed = os.getpid() + int.from_bytes(os.urandom(2), "big")
    np.random.seed(seed)
    random.seed(seed)
"""

AUGMENT = """
import numpy as np


def jitter(x):
    return x + np.random.normal(size=x.shape)
"""


@pytest.mark.parametrize(("seeding", "conditional"), [
    # None (so a random seed) unless the config sets one: seeded only conditionally, two modules away.
    ('seed = cfg.get("SEED", -1)\n        seed_all_rng(None if seed < 0 else seed)', True),
    ("seed_all_rng(0)", False),
])
def test_a_setup_helper_that_seeds_only_when_configured(tmp_path: Path, seeding: str, conditional: bool) -> None:
    engine = f"""
    from utils.env import seed_all_rng


    def default_setup(cfg):
        {seeding}
    """
    train = """
    from augment import jitter
    from engine import default_setup


    def main(cfg):
        default_setup(cfg)
        jitter(load())
        optimizer.step()


    if __name__ == "__main__":
        main(load_config())
    """
    root = write(tmp_path, {
        "utils/__init__.py": "", "utils/env.py": ENV, "engine.py": engine, "augment.py": AUGMENT, "train.py": train,
    })
    found = lint(root)
    if not conditional:
        assert found == []
        return
    assert codes(found) == {("engine.py", "MLR113"), ("train.py", "MLR113"), ("train.py", "MLR103")}
    messages = {(name, code): message for name, _, code, message in found}
    assert "draws a random seed when `None if seed < 0 else seed` is None" in messages[("engine.py", "MLR113")]
    assert "`default_setup(...)` seeds only behind a seed check of its own" in messages[("train.py", "MLR113")]
    assert "`augment.py`, imported here" in messages[("train.py", "MLR103")]
    assert "seeds it only when a seed is given" in messages[("train.py", "MLR103")]


def test_conv_layers_of_another_module_run_on_cuda_in_the_entry_point(tmp_path: Path) -> None:
    model = "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 8, 3)\n"
    train = """
    import torch

    from model import Net

    torch.manual_seed(0)
    model = Net().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    """
    deterministic = textwrap.dedent(train).replace("torch.manual_seed(0)", "torch.manual_seed(0)\ntorch.backends.cudnn.deterministic = True")
    root = write(tmp_path, {"model.py": model, "train.py": train, "train_det.py": deterministic})
    found = lint(root)
    assert codes(found) == {("train.py", "MLR201")}
    assert "`torch.nn.Conv2d` at model.py:7" in found[0][3]


def test_an_evaluation_script_does_not_make_a_library_draw_matter(tmp_path: Path) -> None:
    evaluate = """
    import torch

    from model import Net

    if __name__ == "__main__":
        model = Net()
        model.eval()
        torch.backends.cudnn.benchmark = True
    """
    root = write(tmp_path, {"model.py": MODEL, "train.py": TRAIN_SEEDED, "evaluate.py": evaluate,
                            "utils/__init__.py": "", "utils/seeding.py": UTILS})
    assert lint(root) == []


def test_a_library_no_entry_point_reaches_is_judged_alone(tmp_path: Path) -> None:
    root = write(tmp_path, {"model.py": MODEL})
    assert codes(lint(root)) == {("model.py", "MLR105")}


def test_a_notebook_is_an_entry_point_that_can_seed_through_the_project(tmp_path: Path) -> None:
    cells = [
        "from utils.seeding import set_all_seeds\nfrom model import Net\nimport torch",
        "set_all_seeds(0)\nmodel = Net()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)",
    ]
    notebook = {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in cells],
    }
    root = write(tmp_path, {"utils/__init__.py": "", "utils/seeding.py": UTILS, "model.py": MODEL})
    (root / "demo.ipynb").write_text(json.dumps(notebook))
    assert lint(root) == []
    unseeded = {**notebook, "cells": notebook["cells"][:1] + [{**notebook["cells"][1], "source": "model = Net()\ntorch.optim.SGD(model.parameters(), lr=1)"}]}
    (root / "demo.ipynb").write_text(json.dumps(unseeded))
    found = lint(root)
    assert codes(found) == {("demo.ipynb", "MLR105")}


def test_declared_entry_points_count(tmp_path: Path) -> None:
    trainer = """
    import torch

    from model import Net

    def main():
        model = Net()
        torch.optim.SGD(model.parameters(), lr=0.1)
    """
    root = write(tmp_path, {"model.py": MODEL, "trainer.py": trainer})
    # Without a declaration, trainer.py only defines; the model module is judged alone.
    assert codes(lint(root)) == {("model.py", "MLR105")}
    (root / "MLproject").write_text("name: x\nentry_points:\n  main:\n    command: python trainer.py\n")
    assert codes(lint(root)) == {("trainer.py", "MLR105")}


@pytest.mark.parametrize("cache", [True, False])
def test_the_cache_gives_the_same_findings_and_follows_edits(tmp_path: Path, cache: bool) -> None:
    root = write(tmp_path, {"utils/__init__.py": "", "utils/seeding.py": UTILS, "model.py": MODEL, "train.py": TRAIN_SEEDED})
    assert lint(root, cache=cache) == [] and lint(root, cache=cache) == []
    assert (root / ".mlrepro_cache").is_dir() is cache
    if cache:
        assert (root / ".mlrepro_cache" / ".gitignore").read_text().strip().endswith("*")
    # The helper stops seeding torch: the next run sees it through the cache.
    (root / "utils" / "seeding.py").write_text(textwrap.dedent(UTILS).replace("    torch.manual_seed(seed)\n", ""))
    assert codes(lint(root, cache=cache)) == {("train.py", "MLR105")}


def test_a_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    root = write(tmp_path, {"model.py": MODEL})
    first = lint(root)
    for entry in (root / ".mlrepro_cache").glob("lint-*.json"):
        entry.write_text("{not json")
    assert lint(root) == first


def test_hydra_targets_are_imports_of_the_module_that_uses_hydra(tmp_path: Path) -> None:
    train = """
    import hydra
    import torch


    @hydra.main(config_path="configs", config_name="train")
    def main(cfg):
        model = hydra.utils.instantiate(cfg.model)
        torch.optim.SGD(model.parameters(), lr=0.1)


    if __name__ == "__main__":
        main()
    """
    root = write(tmp_path, {"src/__init__.py": "", "src/models/__init__.py": "", "src/models/net.py": MODEL, "src/train.py": train})
    # Without the config, nothing imports the model: it is judged alone.
    assert codes(lint(root)) == {("src/models/net.py", "MLR105")}
    (root / "configs").mkdir()
    (root / "configs" / "train.yaml").write_text("model:\n  _target_: src.models.net.Net\n")
    found = lint(root)
    assert codes(found) == {("src/train.py", "MLR105")}
    assert found[0][1] == 1  # at the hydra import


def test_a_library_module_with_a_smoke_test_main_block(tmp_path: Path) -> None:
    model = textwrap.dedent(MODEL) + '\n\nif __name__ == "__main__":\n    import random\n    print(Net(), random.random())\n'
    root = write(tmp_path, {"utils/__init__.py": "", "utils/seeding.py": UTILS, "model.py": model, "train.py": TRAIN_SEEDED})
    # The layers are library code seeded by train.py; the smoke test's own draw is the module's.
    found = lint(root, "model.py")
    assert [(name, row, code) for name, row, code, _ in found] == [("model.py", 13, "MLR101")]


def test_an_entry_point_that_imports_other_names_does_not_run_the_draw(tmp_path: Path) -> None:
    helpers = """
    import numpy as np


    def mixup(x):
        return x * np.random.beta(0.4, 0.4)


    def score(a, b):
        return float(a == b)
    """
    train = """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from helpers import score

    model = LogisticRegression().fit(np.zeros((2, 2)), [0, 1])
    print(score(1, 1))
    """
    seeded = """
    import numpy as np

    from helpers import mixup

    np.random.seed(0)
    model.fit(mixup(np.ones(3)))
    """
    root = write(tmp_path, {"helpers.py": helpers, "train.py": train, "train_mixup.py": seeded})
    assert lint(root) == []
    # The entry point that does run mixup unseeded is told at its import.
    (root / "train_mixup.py").write_text(textwrap.dedent(seeded).replace("np.random.seed(0)\n", ""))
    assert codes(lint(root)) == {("train_mixup.py", "MLR103")}


def test_an_evaluation_script_keeps_its_own_python_draws(tmp_path: Path) -> None:
    evaluate = """
    import random

    import torch
    from torch import nn

    rows = list(range(100))
    subset = random.sample(rows, 10)
    model = nn.Linear(2, 2)
    print(model(torch.zeros(1, 2)), subset)
    """
    root = write(tmp_path, {"evaluate.py": evaluate})
    # A sampled subset changes what the script prints; the model's initial weights do not
    # matter to a script that does not train (it loads its weights).
    assert codes(lint(root)) == {("evaluate.py", "MLR101")}


def test_without_a_project_marker_only_the_directory_of_the_files_is_read(tmp_path: Path) -> None:
    # A script in a directory with no pyproject, setup.py or .git: its siblings are read (the
    # helper it imports), the directory above is not.
    (tmp_path / "unrelated.py").write_text("import random\nrandom.random()\n")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "helpers.py").write_text(textwrap.dedent(UTILS))
    (scripts / "train.py").write_text("import torch\nfrom helpers import set_all_seeds\nset_all_seeds(0)\nm = torch.nn.Linear(2, 2)\ntorch.optim.SGD(m.parameters(), lr=1)\n")
    settings = resolve_settings(tmp_path, isolated=True)
    result = lint_paths([scripts / "train.py"], settings, cwd=tmp_path)
    assert result.findings == []
    assert (scripts / ".mlrepro_cache").is_dir() and not (tmp_path / ".mlrepro_cache").exists()


def test_a_library_draw_kept_names_the_entry_point_that_runs_it_unseeded(tmp_path: Path) -> None:
    factory = "from model import Net\n\n\ndef build():\n    return Net()\n"
    train = """
    import torch

    from factory import build

    model = build()
    torch.optim.SGD(model.parameters(), lr=0.1)
    """
    root = write(tmp_path, {"model.py": MODEL, "factory.py": factory, "train.py": train})
    # train.py reaches model.py only through the factory: the draw stays at the layer, and says
    # which entry point runs it unseeded.
    found = lint(root)
    assert {(name, code) for name, _, code, _ in found} == {("model.py", "MLR105")}
    assert all(message.endswith("entry point `train.py` runs it unseeded") for _, _, _, message in found)


def test_concurrent_runs_share_the_cache_safely(tmp_path: Path) -> None:
    import subprocess
    import sys

    files = {"utils/__init__.py": "", "utils/seeding.py": UTILS, "model.py": MODEL, "train.py": TRAIN_SEEDED, "finetune.py": TRAIN_UNSEEDED}
    files.update({f"pkg/mod{i}.py": f"import random\n\n\ndef f{i}():\n    return random.random()\n" for i in range(30)})
    root = write(tmp_path, files)
    command = [sys.executable, "-m", "mlrepro", "lint", "--output-format", "json", "--exit-zero", "."]
    runs = [subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    results = {out for out, _ in outputs}
    assert len(results) == 1
    cache = list((root / ".mlrepro_cache").glob("lint-*.json"))
    assert len(cache) == 1 and isinstance(json.loads(cache[0].read_text()), dict)
    assert not list((root / ".mlrepro_cache").glob("*.tmp"))
    again = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert again.stdout in results


def test_a_script_that_only_draws_figures_keeps_quiet_but_not_one_that_writes_data(tmp_path: Path) -> None:
    plot = """
    import random

    import matplotlib.pyplot as plt

    colours = ["r", "g", "b"]
    random.shuffle(colours)
    plt.bar([1, 2, 3], [3, 1, 2], color=colours)
    plt.savefig("bars.png")
    """
    split = """
    import random

    import matplotlib.pyplot as plt

    rows = list(range(100))
    random.shuffle(rows)
    with open("train.txt", "w") as out:
        out.write(str(rows[:80]))
    plt.hist(rows)
    """
    root = write(tmp_path, {"plot_bars.py": plot, "make_split.py": split})
    assert codes(lint(root)) == {("make_split.py", "MLR101")}


def test_a_helper_that_makes_cudnn_deterministic_when_asked(tmp_path: Path) -> None:
    helpers = """
    import random

    import numpy as np
    import torch


    def init_seeds(seed=0, deterministic=False):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.deterministic = True
    """
    model = "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 8, 3)\n"
    train = """
    import torch

    from model import Net
    from utils.torch_utils import init_seeds

    init_seeds(0, deterministic=True)
    model = Net().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    """
    root = write(tmp_path, {"utils/__init__.py": "", "utils/torch_utils.py": helpers, "model.py": model, "train.py": train})
    assert lint(root) == []
    # Called without it, the helper leaves cuDNN free to pick nondeterministic kernels.
    (root / "train.py").write_text(textwrap.dedent(train).replace("init_seeds(0, deterministic=True)", "init_seeds(0)"))
    assert codes(lint(root)) == {("train.py", "MLR201")}


def test_a_test_that_runs_a_library_draw_unseeded_does_not_make_it_a_finding(tmp_path: Path) -> None:
    """Tests draw on purpose (the seeding rules are off there by default): the entry point that
    trains decides. The shape of flax's ImageNet example: main.py -> train.py -> pipeline.py,
    and train_test.py exercising train.py."""
    pipeline = """
    import tensorflow as tf


    def augment(image):
        return tf.image.random_flip_left_right(image)
    """
    train = """
    import tensorflow as tf

    import pipeline


    def train_and_evaluate(config):
        dataset = tf.data.Dataset.range(4).map(pipeline.augment)
        model = tf.keras.Sequential([tf.keras.layers.Dense(2)])
        model.fit(dataset, epochs=config)
    """
    main = """
    import tensorflow as tf

    from train import train_and_evaluate

    if __name__ == "__main__":
        tf.random.set_seed(0)
        tf.config.experimental.enable_op_determinism()
        train_and_evaluate(3)
    """
    train_test = """
    import tensorflow as tf

    from train import train_and_evaluate


    def test_train():
        train_and_evaluate(1)


    if __name__ == "__main__":
        test_train()
    """
    files = {"pipeline.py": pipeline, "train.py": train, "main.py": main, "train_test.py": train_test}
    root = write(tmp_path, files)
    assert lint(root) == []
    # With the tests' default ignores switched off, the test is an entry point like any other.
    (root / "pyproject.toml").write_text("[tool.mlrepro]\nper-file-ignores = {}\n")
    found = lint(root)
    assert ("train_test.py", "MLR107") in codes(found), found


def test_an_entry_point_that_trains_through_a_module_attribute_is_judged_as_training(tmp_path: Path) -> None:
    """``import train`` then ``train.train_and_evaluate(...)``: main.py trains (flax's examples)."""
    pipeline = """
    import tensorflow as tf


    def augment(image):
        return tf.image.random_flip_left_right(image)
    """
    train = """
    import tensorflow as tf

    import pipeline


    def train_and_evaluate(epochs):
        return tf.data.Dataset.range(4).map(pipeline.augment)
    """
    main = """
    import tensorflow as tf

    import train

    if __name__ == "__main__":
        tf.config.experimental.set_visible_devices([], "GPU")
        train.train_and_evaluate(3)
    """
    root = write(tmp_path, {"pipeline.py": pipeline, "train.py": train, "main.py": main})
    found = lint(root)
    assert [(name, code) for name, _, code, _ in found] == [("pipeline.py", "MLR107")], found
    assert "entry point `main.py` runs it unseeded" in found[0][3]
