"""``mlrepro.seed_everything``: real training in separate processes, bit for bit; frameworks
seeded when installed and never imported when not."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
import textwrap
from pathlib import Path

import pytest

from audit_helpers import Store
from audit_helpers import run_python

# A small training whose every random draw goes through the global generators: data from
# NumPy's legacy global, a shuffle from Python's `random`, a split and a forest left at
# random_state=None (scikit-learn then draws from NumPy's global), and a child process
# whose set-of-strings order depends on PYTHONHASHSEED.
TRAINING = textwrap.dedent(
    """
    import json
    import random
    import subprocess
    import sys

    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    import mlrepro

    if sys.argv[1] != "none":
        mlrepro.seed_everything(int(sys.argv[1]))
    X = np.random.rand(400, 6)
    y = (X[:, 0] + 0.4 * np.random.randn(400) > 0.5).astype(int)
    order = list(range(len(X)))
    random.shuffle(order)
    X, y = X[order], y[order]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3)
    model = RandomForestClassifier(n_estimators=25, max_features="sqrt").fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    child = subprocess.run(
        [sys.executable, "-c", "print(list({'w%d' % i for i in range(30)}))"],
        capture_output=True, text=True, check=True,
    ).stdout
    print(json.dumps({
        "proba": [float(p).hex() for p in proba],
        "accuracy": float(model.score(X_test, y_test)).hex(),
        "child_set_order": child,
    }))
    """
)


def _train(tmp_path: Path, seed: str) -> dict[str, object]:
    script = tmp_path / "train.py"
    script.write_text(TRAINING)
    result = run_python(script, seed, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_same_seed_gives_bit_identical_training_in_separate_processes(tmp_path: Path) -> None:
    first, second = _train(tmp_path, "7"), _train(tmp_path, "7")
    assert first == second
    other = _train(tmp_path, "8")
    assert other["proba"] != first["proba"]
    assert other["child_set_order"] != first["child_set_order"]


def test_without_seeding_the_same_training_differs(tmp_path: Path) -> None:
    """The control: without seed_everything the two processes disagree, so the test above
    measures the seeding and not a training that happens to be deterministic."""
    first, second = _train(tmp_path, "none"), _train(tmp_path, "none")
    assert first["proba"] != second["proba"]
    assert first["child_set_order"] != second["child_set_order"]


def test_reseeding_repeats_the_draws_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import mlrepro

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("MLREPRO_SEED", raising=False)
    result = mlrepro.seed_everything(7)
    draws = (random.random(), np.random.rand(3).tolist())
    mlrepro.seed_everything(7)
    assert (random.random(), np.random.rand(3).tolist()) == draws
    mlrepro.seed_everything(8)
    assert (random.random(), np.random.rand(3).tolist()) != draws

    expected = ["random", "numpy"] + [m for m in ("torch", "tensorflow", "jax") if importlib.util.find_spec(m)]
    assert result["seed"] == 7
    assert result["seeded"] == expected
    assert result["deterministic"] is False
    assert os.environ["MLREPRO_SEED"] == "8"
    assert os.environ["PYTHONHASHSEED"] == "7"  # set by the first call, then kept


def test_explicit_pythonhashseed_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrepro.capture.seeding import seed_everything

    monkeypatch.setenv("PYTHONHASHSEED", "0")
    assert seed_everything(5)["pythonhashseed"] == "0"
    assert os.environ["PYTHONHASHSEED"] == "0"
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    assert seed_everything(5)["pythonhashseed"] == "5"


@pytest.mark.parametrize("bad", [True, 1.5, "7", None, -1, 2**32])
def test_seed_must_be_an_int_in_range(bad: object) -> None:
    from mlrepro.capture.seeding import seed_everything

    with pytest.raises((TypeError, ValueError)):
        seed_everything(bad)  # type: ignore[arg-type]


PROBE = textwrap.dedent(
    """
    import json, os, sys
    import mlrepro

    result = mlrepro.seed_everything(11, deterministic=sys.argv[1] == "deterministic")
    out = {k: (repr(v) if k == "jax_key" else v) for k, v in result.items()}
    out["imported"] = sorted(m for m in ("torch", "tensorflow", "jax", "mlflow") if m in sys.modules)
    out["env"] = {k: os.environ.get(k) for k in ("CUBLAS_WORKSPACE_CONFIG", "TF_DETERMINISTIC_OPS", "MLREPRO_SEED", "PYTHONHASHSEED")}
    for name in ("torch", "tensorflow", "jax"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "calls"):
            out[name + "_calls"] = module.calls
    if "torch" in sys.modules:
        cudnn = sys.modules["torch"].backends.cudnn
        out["cudnn"] = [cudnn.deterministic, cudnn.benchmark]
    print(json.dumps(out))
    """
)

# Stand-ins for frameworks this environment does not install: the same entry points as the
# real ones, recording how they were called.
FAKE_TORCH = textwrap.dedent(
    """
    calls = []
    def manual_seed(seed): calls.append(["manual_seed", seed])
    def use_deterministic_algorithms(flag): calls.append(["use_deterministic_algorithms", flag])
    class cuda:
        @staticmethod
        def manual_seed_all(seed): calls.append(["cuda.manual_seed_all", seed])
    class backends:
        class cudnn:
            deterministic = False
            benchmark = True
    """
)
FAKE_TENSORFLOW = textwrap.dedent(
    """
    import os
    calls = [["import", os.environ.get("TF_DETERMINISTIC_OPS")]]
    class random:
        @staticmethod
        def set_seed(seed): calls.append(["random.set_seed", seed])
    class config:
        class experimental:
            @staticmethod
            def enable_op_determinism(): calls.append(["enable_op_determinism"])
    """
)
FAKE_JAX = {"__init__.py": "from jax import random\n", "random.py": "def key(seed):\n    return ('typed-key', seed)\n"}


def _probe(tmp_path: Path, mode: str, packages: dict[str, dict[str, str]] | None = None) -> dict[str, object]:
    site = tmp_path / "site"
    for package, files in (packages or {}).items():
        for name, text in files.items():
            (site / package).mkdir(parents=True, exist_ok=True)
            (site / package / name).write_text(text)
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    result = run_python(script, mode, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_frameworks_that_are_not_installed_are_not_imported(tmp_path: Path) -> None:
    missing = [m for m in ("torch", "tensorflow", "jax") if importlib.util.find_spec(m) is None]
    if len(missing) < 3:
        pytest.skip(f"installed here: {sorted({'torch', 'tensorflow', 'jax'} - set(missing))}")
    out = _probe(tmp_path, "deterministic")
    assert out["seeded"] == ["random", "numpy"]
    assert out["imported"] == []  # not the frameworks, and not MLflow either
    assert "jax_key" not in out and "failed" not in out
    assert out["env"] == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "TF_DETERMINISTIC_OPS": "1", "MLREPRO_SEED": "11", "PYTHONHASHSEED": "11"}


def test_installed_frameworks_are_seeded(tmp_path: Path) -> None:
    packages = {"torch": {"__init__.py": FAKE_TORCH}, "tensorflow": {"__init__.py": FAKE_TENSORFLOW}, "jax": FAKE_JAX}
    out = _probe(tmp_path, "plain", packages)
    assert out["seeded"] == ["random", "numpy", "torch", "tensorflow", "jax"]
    assert out["torch_calls"] == [["manual_seed", 11], ["cuda.manual_seed_all", 11]]
    assert out["cudnn"] == [False, True]  # untouched without deterministic=True
    assert out["tensorflow_calls"] == [["import", None], ["random.set_seed", 11]]
    assert out["jax_key"] == repr(("typed-key", 11))
    assert out["deterministic"] is False


def test_deterministic_mode(tmp_path: Path) -> None:
    packages = {"torch": {"__init__.py": FAKE_TORCH}, "tensorflow": {"__init__.py": FAKE_TENSORFLOW}}
    out = _probe(tmp_path, "deterministic", packages)
    assert out["torch_calls"] == [["manual_seed", 11], ["cuda.manual_seed_all", 11], ["use_deterministic_algorithms", True]]
    assert out["cudnn"] == [True, False]
    # TF_DETERMINISTIC_OPS is set before TensorFlow is imported (older versions read it there).
    assert out["tensorflow_calls"] == [["import", "1"], ["random.set_seed", 11], ["enable_op_determinism"]]
    assert out["deterministic"] is True


def test_a_broken_framework_warns_and_the_rest_is_seeded(tmp_path: Path) -> None:
    packages = {"tensorflow": {"__init__.py": "raise ImportError('libcudart.so.12: cannot open shared object file')\n"}}
    out = _probe(tmp_path, "plain", packages)
    assert out["seeded"] == ["random", "numpy"]
    assert out["failed"] == {"tensorflow": "ImportError: libcudart.so.12: cannot open shared object file"}


def test_seed_is_recorded_on_the_active_mlflow_run(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from mlrepro.capture.seeding import seed_everything

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("MLREPRO_SEED", raising=False)
    previous = tracking_utils._tracking_uri
    mlflow.set_tracking_uri(store.uri)
    try:
        seed_everything(3)  # no active run: nothing to record, nothing fails
        with mlflow.start_run(experiment_id=store.experiment(), run_name="seeded") as run:
            seed_everything(5, deterministic=False)
    finally:
        tracking_utils._tracking_uri = previous
    tags = store.client.get_run(run.info.run_id).data.tags
    assert tags["mlrepro.seed"] == "5"
    assert tags["mlrepro.seeded"].split(",")[:2] == ["random", "numpy"]
    assert tags["mlrepro.deterministic"] == "false"
    assert len(store.client.search_runs([store.experiment()])) == 1


def test_import_mlrepro_stays_light() -> None:
    """``seed_everything`` and ``tracked_run`` are resolved on first use, not at import."""
    code = (
        "import sys, mlrepro; heavy = [m for m in ('numpy', 'mlflow', 'git', 'mlrepro.capture.seeding') if m in sys.modules]; "
        "assert not heavy, heavy; f = mlrepro.seed_everything; assert 'mlflow' not in sys.modules; "
        "from mlrepro import tracked_run, PolicyError; assert issubclass(PolicyError, ValueError); print('ok')"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
