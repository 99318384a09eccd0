"""The audit against a team server: `mlflow server` on PostgreSQL with proxied artifacts,
read over REST. The same scenario built in a SQLite store and on the server must give the
same findings: the adapter hides every difference between the two (versions as ints or
strings, aliases, artifact URIs that only the server can resolve)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_helpers import Repo, ServerStore, Store, audit_json, register
from mlrepro.sources.mlflow_store import MlflowStore

# Server state outlives each test: every test names its experiments and models uniquely.


@pytest.fixture
def server_store(mlflow_server: str, tmp_path: Path) -> Iterator[ServerStore]:
    from mlflow import MlflowClient

    yield ServerStore(mlflow_server, tmp_path / "no-database-file", tmp_path / "server-staging", MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server))


def build(store: Store, repo: Repo, tag: str) -> dict[str, str]:
    """One scenario, built through the client exactly as training code would, in any store.
    Returns run name -> run id; experiment and model names end in ``tag``."""
    experiment = f"churn-{tag}"
    runs = {
        "good": store.good_run(repo, experiment=experiment, name="good", artifacts={"model/model.pkl": b"m" * 4096, "requirements.txt": b"numpy==2.1.0\n"}),
        "no-commit": store.good_run(None, experiment=experiment, name="no-commit", artifacts={"plot.png": b"\x89PNG"}),
        "no-team": store.good_run(repo, experiment=experiment, name="no-team", tags={"team": ""}),
        "killed": store.run(experiment=experiment, name="killed", status="RUNNING"),
    }
    model, other = f"churn-{tag}", f"fraud-{tag}"
    register(store.client, model, runs["good"], stage="Production", aliases=("champion",))
    register(store.client, model, runs["no-commit"], aliases=("challenger",))
    register(store.client, model, runs["no-team"], stage="Archived")
    register(store.client, other, runs["good"], stage="Production")
    register(store.client, other, runs["good"], stage="Production")
    return runs


def outcome(findings: list[dict[str, object]], runs: dict[str, str], tag: str) -> set[tuple[str, str, str]]:
    """(subject, code, message) with ids and names made store-independent."""
    names = {run_id: name for name, run_id in runs.items()}
    result = set()
    for f in findings:
        run_id, model = f["run_id"], f["model"]
        subject = f"model {str(model).replace('-' + tag, '')}" if model else f"run {names[str(run_id)]}"
        message = str(f["message"]).replace(f"-{tag}", "")
        for run_id_, name in names.items():
            message = message.replace(run_id_, f"<{name}>")
        result.add((subject, str(f["code"]), message))
    return result


def test_server_and_sqlite_give_the_same_findings(server_store: ServerStore, store: Store, repo: Repo) -> None:
    tag = uuid.uuid4().hex[:8]
    local_runs, server_runs = build(store, repo, tag), build(server_store, repo, tag)
    local_code, local = audit_json(store, repo.path, "--experiment", f"churn-{tag}")
    server_code, server = audit_json(server_store, repo.path, "--experiment", f"churn-{tag}")
    assert local_code == server_code == 1
    # The server also holds other tests' models: compare this scenario's.
    server = [f for f in server if f["model"] is None or str(f["model"]).split("/")[0].endswith(tag)]
    expected = outcome(local, local_runs, tag)
    assert outcome(server, server_runs, tag) == expected
    codes = {(subject, code) for subject, code, _ in expected}
    assert {("run no-commit", "MLR501"), ("run no-team", "MLR701"), ("model churn/2", "MLR801"), ("model fraud/2", "MLR803")} <= codes
    assert not any(subject == "run good" for subject, _, _ in expected)


def test_registry_versions_are_strings_with_aliases_over_rest(server_store: ServerStore, repo: Repo) -> None:
    tag = uuid.uuid4().hex[:8]
    run = server_store.good_run(repo, experiment=f"reg-{tag}")
    register(server_store.client, f"churn-{tag}", run, stage="Staging")
    register(server_store.client, f"churn-{tag}", run, stage="Production", aliases=("champion", "blue"))
    raw = server_store.client.search_model_versions(f"name='churn-{tag}'")
    assert {type(v.version) for v in raw} == {str}  # REST gives strings (SQLite gives ints)
    assert all(v.aliases == [] for v in raw)  # and no aliases: the adapter reads them from the model
    versions = [v for v in MlflowStore.open(server_store.uri).iter_model_versions() if v.name == f"churn-{tag}"]
    assert sorted((v.version, v.run_id, v.stage, v.aliases) for v in versions) == [
        ("1", run, "Staging", ()),
        ("2", run, "Production", ("blue", "champion")),
    ]


def test_artifacts_are_listed_through_the_server_proxy(server_store: ServerStore, repo: Repo, mlflow_server: str) -> None:
    tag = uuid.uuid4().hex[:8]
    run_id = server_store.good_run(repo, experiment=f"art-{tag}", artifacts={"model/model.pkl": b"m" * 4096, "notes.txt": b"hello"})
    store = MlflowStore.open(mlflow_server)
    record = store.get_run(run_id)
    assert record is not None and str(record.artifact_uri).startswith("mlflow-artifacts:")
    listed = {(a.path, a.size_bytes) for a in store.list_artifacts(record)}
    assert listed == {("model/model.pkl", 4096), ("notes.txt", 5)}


def test_served_version_whose_run_was_garbage_collected(server_store: ServerStore, repo: Repo, postgres_database: str) -> None:
    """`mlflow gc` removes deleted runs for good; the registry keeps the version. Over REST the
    missing run is an HTTP 404 that must read as "no such run", not as an unreachable store."""
    tag = uuid.uuid4().hex[:8]
    experiment = f"gc-{tag}"
    kept = server_store.good_run(repo, experiment=experiment, name="kept")
    doomed = server_store.good_run(repo, experiment=experiment, name="doomed", artifacts={"model/model.pkl": b"m"})
    version = register(server_store.client, f"churn-{tag}", doomed, aliases=("champion",), trail=True)
    server_store.client.delete_run(doomed)
    gc = subprocess.run(
        [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", postgres_database, "--run-ids", doomed],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "MLFLOW_TRACKING_URI": server_store.uri, "PYTHONWARNINGS": "ignore"},
    )
    assert gc.returncode == 0, gc.stderr[-2000:]
    assert MlflowStore.open(server_store.uri).get_run(doomed) is None
    code, findings = audit_json(server_store, repo.path, "--experiment", experiment, "--select", "MLR8")
    mine = [f for f in findings if str(f["model"]).startswith(f"churn-{tag}/")]
    assert code == 1
    assert [(f["code"], f["model"], f["run_id"]) for f in mine] == [("MLR802", f"churn-{tag}/{version}", doomed)]
    assert kept not in {f["run_id"] for f in findings}


def test_promote_over_rest(server_store: ServerStore, repo: Repo) -> None:
    """The gate against a team server: versions are strings over REST, aliases come from the
    registered model, the trail is readable back through the REST registry (MLR804 quiet)."""
    import contextlib
    import io
    import json

    from mlrepro.cli import main

    tag = uuid.uuid4().hex[:8]
    model = f"promote-{tag}"
    first = register(server_store.client, model, server_store.good_run(repo, experiment=f"promote-{tag}", metrics={"accuracy": 0.90}))
    second = register(server_store.client, model, server_store.good_run(repo, experiment=f"promote-{tag}", metrics={"accuracy": 0.95}))

    def promote(version: str, *args: str) -> tuple[int, dict[str, object]]:
        out = io.StringIO()
        previous = Path.cwd()
        os.chdir(repo.path)
        try:
            with contextlib.redirect_stdout(out):
                code = main(["promote", model, version, "--tracking-uri", server_store.uri, "--output-format", "json", *args])
        finally:
            os.chdir(previous)
        return code, json.loads(out.getvalue())

    assert promote(first, "--to", "champion")[0] == 0
    code, result = promote(second, "--to", "champion", "--must-beat", "accuracy:0.01")
    assert code == 0, result
    assert result["previous"] == first
    assert {k: str(v) for k, v in server_store.client.get_registered_model(model).aliases.items()} == {"champion": second}
    assert server_store.client.get_model_version(model, second).tags["mlrepro.gate"] == "audit,must-beat"
    _, findings = audit_json(server_store, repo.path, "--experiment", f"promote-{tag}", "--select", "MLR804")
    assert [f for f in findings if str(f["model"]).startswith(f"{model}/")] == []
