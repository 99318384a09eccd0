"""Helpers for audit tests: real MLflow stores (runs created through MlflowClient, as
training code would) and real git repositories with a bare origin."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

GOOD_TAGS = {
    "model_type": "random_forest",
    "dataset_version": "v3",
    "feature_set": "baseline",
    "team": "fraud",
    "purpose": "nightly retrain",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


def dvc(repo: Path, *args: str) -> str:
    """The real DVC CLI (about a second a call: use sparingly), without analytics."""
    import sys

    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout.strip()


@dataclass
class Repo:
    """A real git repository with a bare 'origin' to push to."""

    path: Path
    origin: Path

    def commit(self, files: Mapping[str, str], message: str = "change", push: bool = True) -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)
        if push:
            git(self.path, "push", "-q", "origin", "HEAD:main")
        return git(self.path, "rev-parse", "HEAD")


@dataclass
class Store:
    uri: str
    path: Path
    artifacts: Path
    client: Any
    experiments: dict[str, str] = field(default_factory=dict)

    def experiment(self, name: str = "churn") -> str:
        if name not in self.experiments:
            location = (self.artifacts / name).as_uri()
            self.experiments[name] = self.client.create_experiment(name, artifact_location=location)
        return self.experiments[name]

    def run(
        self,
        *,
        experiment: str = "churn",
        name: str | None = "rf-depth8-lr0.1",
        params: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        status: str = "FINISHED",
        start_time: int | None = None,
        datasets: list[tuple[str, str | None, str, str]] | None = None,
        artifacts: Mapping[str, bytes] | None = None,
    ) -> str:
        """Create a run through the client. ``datasets``: (name, digest, source_type, source json)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

        start = start_time or int(time.time() * 1000)
        created = self.client.create_run(self.experiment(experiment), start_time=start, tags=dict(tags or {}), run_name=name)
        run_id = created.info.run_id
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, start, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in (params or {}).items()],
            tags=[],
        )
        if datasets:
            self.client.log_inputs(
                run_id,
                [
                    DatasetInput(Dataset(n, d or "", st, src, None, None), [InputTag("mlflow.data.context", "training")])
                    for n, d, st, src in datasets
                ],
            )
        for rel, data in (artifacts or {}).items():
            local = self.artifacts / "staging" / uuid.uuid4().hex / Path(rel).name
            local.parent.mkdir(parents=True)
            local.write_bytes(data)
            parent = str(Path(rel).parent)
            self.client.log_artifact(run_id, str(local), None if parent == "." else parent)
        if status != "RUNNING":
            self.client.set_terminated(run_id, status, end_time=start + 60_000)
        return run_id

    def good_run(self, repo: Repo | None = None, **overrides: Any) -> str:
        """A run that every default check accepts: tags, seed, pushed clean commit, versioned
        data with a digest, a recorded environment. Tests change one thing at a time."""
        tags = dict(GOOD_TAGS)
        if repo is not None:
            tags["mlflow.source.git.commit"] = git(repo.path, "rev-parse", "HEAD")
            tags["mlflow.source.name"] = str(repo.path / "train.py")
            tags["mlrepro.git.dirty"] = "false"
        tags["mlrepro.pip_freeze_sha256"] = "0" * 64
        tags.update(overrides.pop("tags", {}))
        kwargs: dict[str, Any] = {
            "params": {"seed": "42", "max_depth": "8"},
            "metrics": {"accuracy": 0.91},
            "tags": tags,
            "datasets": [("train", "a1b2c3d4", "local", json.dumps({"uri": "data/train.csv"}))],
        }
        kwargs.update(overrides)
        return self.run(**kwargs)

    def model_run(self, metrics: Mapping[str, float]) -> tuple[str, str]:
        """A run that logs a real MLflow 3 model through the fluent API, as training code does
        (its files live under models/m-<id>/, not in the run). Returns (run id, model id)."""
        import mlflow

        class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context: Any, model_input: list[str]) -> list[str]:
                return model_input

        previous_env = os.environ.get("MLFLOW_TRACKING_URI")
        previous = mlflow.get_tracking_uri()
        os.environ["MLFLOW_TRACKING_URI"] = self.uri
        mlflow.set_tracking_uri(self.uri)
        try:
            with mlflow.start_run(experiment_id=self.experiment(), run_name="echo-model") as run:
                info = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
                if metrics:
                    mlflow.log_metrics(dict(metrics))
        finally:
            mlflow.set_tracking_uri(previous)
            if previous_env is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = previous_env
        return run.info.run_id, info.model_id

    def digest(self) -> str:
        """The database file's bytes, to prove the audit wrote nothing."""
        import hashlib

        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def audit_json(store: Store, cwd: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """Run `mlrepro audit` as users do (in-process CLI) and return (exit code, findings)."""
    import contextlib
    import io

    from mlrepro.cli import main

    out = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            code = main(["audit", "--tracking-uri", store.uri, "--output-format", "json", "--quiet", *args])
    finally:
        os.chdir(previous)
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else []


def codes_by_run(findings: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for item in findings:
        found.setdefault(item.get("run_id") or item.get("model") or "-", set()).add(item["code"])
    return found


def register(
    client: Any,
    name: str,
    run_id: str | None,
    *,
    stage: str | None = None,
    aliases: tuple[str, ...] = (),
    source: str | None = None,
    trail: bool = False,
) -> str:
    """Register a model version as teams do (registered model, version, stage, aliases) and
    return its version number as a string. Works on SQLite and REST clients alike.
    ``trail``: tag it as `mlrepro promote` does, as if it had passed the gate (else a served
    version is MLR804's)."""
    import warnings

    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    version = client.create_model_version(name, source or f"runs:/{run_id or 'none'}/model", run_id=run_id)
    number = str(version.version)
    if trail:
        uses = ([f"stage:{stage}"] if stage else []) + [f"@{alias}" for alias in aliases]
        for key, value in {**PROMOTION_TRAIL, "mlrepro.promoted_to": ",".join(uses)}.items():
            client.set_model_version_tag(name, number, key, value)
    if stage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated, yet still used
            client.transition_model_version_stage(name, number, stage)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, number)
    return number


# The tags `mlrepro promote` writes on a version that passed the gate (MLR804 looks for them).
PROMOTION_TRAIL = {
    "mlrepro.promoted_by": "ci-bot",
    "mlrepro.promoted_at": "2026-11-28T12:00:00+00:00",
    "mlrepro.gate": "audit",
    "mlrepro.audit_digest": "0" * 64,
}


def findings_of(findings: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [f for f in findings if f["code"] == code]


@dataclass
class ServerStore(Store):
    """A tracking server reached over REST. Experiments take the server's default artifact
    location (``mlflow-artifacts:/``, proxied by the server), as they do on a team server."""

    def experiment(self, name: str = "churn") -> str:
        if name not in self.experiments:
            self.experiments[name] = self.client.create_experiment(name)
        return self.experiments[name]

    def digest(self) -> str:
        raise NotImplementedError("a server's database is not a file")


def free_port() -> int:
    """A port nothing listens on now (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    """git's exact bytes (``git`` strips and decodes its output)."""
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, check=True).stdout


def init_repo(tmp_path: Path, files: Mapping[str, str]) -> Repo:
    """A real project repository under ``tmp_path``: ``files`` committed on main and pushed to
    a bare ``origin``, the remote-tracking branch fetched."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", str(origin))
    result = Repo(path, origin)
    result.commit(files, "initial")
    git(path, "fetch", "-q", "origin")
    return result


def run_python(script: Path, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python script args`` as a user runs it, with the test's environment minus anything
    that would make two runs alike by accident."""
    full = dict(os.environ)
    full.pop("PYTHONHASHSEED", None)
    full.pop("MLREPRO_SEED", None)
    full.update(env or {})
    full.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    full.setdefault("GIT_PYTHON_REFRESH", "quiet")
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def running_mlflow_server(backend_store_uri: str, root: Path, *extra: str) -> Iterator[str]:
    """A real `mlflow server` as teams run it, trimmed to what a test needs: no job runner
    (~12 processes and ~2.9 GB otherwise), one gunicorn worker (uvicorn adds a delay to every
    keep-alive request). Artifacts and its log go under ``root``. Yields its http:// URI once
    /health answers; killed with its whole process group afterwards."""
    import signal
    import urllib.request

    import pytest

    port = free_port()
    artifacts = root / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    log = root / "mlflow-server.log"
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", backend_store_uri, "--artifacts-destination", str(artifacts), *extra,
        "--workers", "1", "--gunicorn-opts", "--log-level warning --timeout 120 --graceful-timeout 3",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("wb") as sink:
        # Its own process group, so that gunicorn's workers die with it.
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=artifacts)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after 60 s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)
        yield uri
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def cached_venv(name: str, module: str, version: str, requirements: list[str]) -> Path | str:
    """The Python of a venv with ``requirements`` installed, cached across sessions under
    $MLREPRO_TEST_CACHE (default ~/.cache/mlrepro-tests) as ``name``, checked by ``module``'s
    ``__version__`` being ``version``. Returns the reason as a string when it cannot be
    installed here (offline, no wheel), for the test to skip with."""
    import shutil

    root = Path(os.environ.get("MLREPRO_TEST_CACHE", Path.home() / ".cache" / "mlrepro-tests")) / name
    python = root / "bin" / "python"
    check = [str(python), "-c", f"import {module}; print({module}.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.strip() == version:
        return python
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or subprocess.run(check, capture_output=True, text=True).stdout.strip() != version:
        shutil.rmtree(root, ignore_errors=True)
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"{' '.join(requirements)} does not install here: {lines[-1] if lines else done.returncode}"
    return python
