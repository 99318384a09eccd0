"""No credential reaches any output: a real `mlflow server` reached through a tracking URI with
a password in it, a real training script whose reproduction prints the secrets of its
environment and fails (so its log tail is shown), and every output of `reproduce`, `audit
--reproduce` and `report --reproduce` read back whole."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_helpers import Repo, ServerStore, init_repo, register, running_mlflow_server
from training_helpers import TRAIN, run_training, training_env

PASSWORD = "pw-Sx81Lq"
SECRETS = {
    "MLFLOW_TRACKING_TOKEN": "tok-9fQ2wZ7e",
    "MLFLOW_TRACKING_PASSWORD": "mpw-33Vbn0",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE7QZ4XR2M",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEXAMPLE//session==",
}
QUERY = {"token": "qtok-5521", "password": "qpw-8871"}
NEVER = (PASSWORD, *SECRETS.values(), *QUERY.values())

# The reproduction (its run is tagged mlrepro.reproduces) prints its environment's secrets and a URL
# with credentials in its query, then fails inside the run: MLflow's "View run at <tracking
# URI>" lines, password included, end its log.
LEAKY = (
    "import os; print('env', *(os.environ.get(k) for k in sorted(os.environ) if k.startswith(('AWS_', 'MLFLOW_TRACKING_'))), "
    f"'see', os.environ['MLFLOW_TRACKING_URI'] + '/api?token={QUERY['token']}&password={QUERY['password']}', flush=True); "
    "'mlrepro.reproduces' in mlflow.get_run(mlflow.active_run().info.run_id).data.tags and sys.exit(3)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("secrets-server")
    with running_mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root) as uri:
        yield uri


def cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "mlrepro", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def assert_clean(where: str, text: str) -> None:
    leaked = [secret for secret in NEVER if secret in text]
    assert not leaked, f"{where} shows {leaked}:\n{text[-3000:]}"


def test_no_secret_reaches_any_output(server: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    secret_uri = server.replace("http://", f"http://analyst:{PASSWORD}@")
    store = ServerStore(secret_uri, tmp_path, tmp_path / "artifacts", MlflowClient(tracking_uri=server))
    repo: Repo = init_repo(tmp_path, {"train.py": TRAIN.format(seed="7", after=LEAKY), ".gitignore": "mlruns/\n", "pyproject.toml": "[tool.mlrepro]\n"})
    env = {**training_env(store), **SECRETS}
    run_id = run_training(store, repo)
    register(store.client, "churn", run_id, aliases=("champion",))  # served: `--reproduce` re-executes it

    outputs: dict[str, str] = {}
    for fmt in ("text", "json"):
        done = cli(repo.path, env, "reproduce", run_id, "--output-format", fmt)
        assert done.returncode == 1, done.stderr
        outputs[f"reproduce {fmt}"] = done.stdout + done.stderr
        if fmt == "json":
            assert json.loads(done.stdout)["verdict"] == "failed"
    # The leak this guards against is really there to be hidden: the log tail has MLflow's line.
    assert "View run" in outputs["reproduce text"] and "http://***@127.0.0.1" in outputs["reproduce text"]

    done = cli(repo.path, env, "reproduce", "0" * 32)  # "no run ... in <tracking URI>"
    assert done.returncode == 2
    outputs["reproduce error"] = done.stdout + done.stderr

    done = cli(repo.path, env, "audit", "--reproduce", "--select", "MLR9", "--output-format", "text")
    assert done.returncode == 1 and "MLR902" in done.stdout, done.stdout + done.stderr
    outputs["audit text"] = done.stdout + done.stderr

    out = tmp_path / "out"
    done = cli(
        repo.path, env, "report", "--reproduce", "--output", str(out / "report.html"), "--history", str(out / "history"),
        "--json", str(out / "audit.json"), "--junit", str(out / "audit.xml"), "--sarif", str(out / "audit.sarif"),
    )
    assert done.returncode == 1, done.stderr
    outputs["report stdout"] = done.stdout + done.stderr
    files = [out / "report.html", out / "audit.json", out / "audit.xml", out / "audit.sarif", *(out / "history").iterdir()]
    for path in files:
        outputs[path.name] = path.read_text(encoding="utf-8")
    assert any(f["code"] == "MLR902" and "last output line" in f["message"] for f in json.loads(outputs["audit.json"]))
    assert "MLR902" in outputs["audit.sarif"] and "MLR902" in outputs["audit.xml"] and "MLR902" in outputs["report.html"]
    for where, text in outputs.items():
        assert_clean(where, text)
