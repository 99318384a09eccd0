"""`mlrepro audit` as users run it, against real SQLite stores and git repositories: it
writes nothing, its exit codes follow ruff's, every error is one line, credentials never
leak, and every output format carries the run (and model) a finding is about."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from audit_helpers import Repo, Store, free_port, register
from mlrepro.cli import main
from mlrepro.sources import mlflow_store
from mlrepro.sources.mlflow_store import redact

SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"
START = 1_700_000_000_000  # 2023-11-14T22:13:20Z: fixed, so headings can be compared exactly
STARTED = "2023-11-14T22:13:20+00:00"


@dataclass
class Result:
    code: int
    out: str
    err: str


def audit(cwd: Path, *args: str, uri: str | None = None) -> Result:
    """The real CLI in-process (importing mlflow per subprocess costs seconds)."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["audit", "--quiet", *(["--tracking-uri", uri] if uri else []), *args])
    finally:
        os.chdir(previous)
    return Result(code, out.getvalue(), err.getvalue())


def artifact_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def populate(store: Store, repo: Repo) -> dict[str, str]:
    """A small store with something for most rule families: a good run with artifacts, a bad
    run, served and unserved registry versions."""
    good = store.good_run(repo, artifacts={"model/model.pkl": b"x" * 2048, "requirements.txt": b"numpy==2.1.0\n"})
    bad = store.run(name="run", tags={"team": "fraud"}, metrics={"accuracy": 0.5}, artifacts={"plot.png": b"\x89PNG"})
    register(store.client, "churn", good, stage="Production", aliases=("champion",), trail=True)
    register(store.client, "churn", bad, stage="Production")
    register(store.client, "churn", None, source=(store.artifacts / "model").as_uri(), aliases=("shadow",))
    return {"good": good, "bad": bad}


# --- read-only ------------------------------------------------------------------------------------


def test_a_full_audit_writes_nothing(store: Store, repo: Repo, tmp_path: Path) -> None:
    populate(store, repo)
    before, files = store.digest(), artifact_files(store.artifacts)
    for fmt in ("text", "json", "sarif", "github", "junit"):
        result = audit(repo.path, "--output-format", fmt, "--artifacts", uri=store.uri)
        assert result.code == 1, result.err
    assert store.digest() == before
    assert artifact_files(store.artifacts) == files
    # No journal or WAL left beside the database either.
    assert sorted(p.name for p in store.path.parent.iterdir() if p.name.startswith("mlflow.db")) == ["mlflow.db"]


# --- exit codes -----------------------------------------------------------------------------------


def test_clean_store_exits_0_under_every_rule(store: Store, repo: Repo) -> None:
    good = store.good_run(repo, artifacts={"model/model.pkl": b"x" * 1024})
    register(store.client, "churn", good, stage="Production", aliases=("champion",), trail=True)
    result = audit(repo.path, uri=store.uri)
    assert (result.code, result.out, result.err) == (0, "All checks passed!\n", "")


def test_findings_exit_1(store: Store, repo: Repo) -> None:
    store.good_run(repo)
    store.good_run(None)
    result = audit(repo.path, uri=store.uri)
    assert result.code == 1
    assert result.err == ""


def test_fail_on_sets_the_threshold(store: Store, repo: Repo) -> None:
    # Two Production versions of clean runs: warnings only (MLR803).
    for _ in range(2):
        register(store.client, "churn", store.good_run(repo), stage="Production", trail=True)
    result = audit(repo.path, "--output-format", "json", uri=store.uri)
    assert {(f["code"], f["severity"]) for f in json.loads(result.out)} == {("MLR803", "warning")}
    assert result.code == 1
    assert audit(repo.path, "--fail-on", "warning", uri=store.uri).code == 1
    assert audit(repo.path, "--fail-on", "error", uri=store.uri).code == 0
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\nfail-on = "error"\n')
    assert audit(repo.path, uri=store.uri).code == 0
    assert audit(repo.path, "--fail-on", "note", uri=store.uri).code == 1  # the command line wins


def not_mlflow_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    return f"sqlite:///{path}"


def not_a_database(tmp_path: Path) -> str:
    path = tmp_path / "notes.db"
    path.write_text("just text\n")
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-sqlite", "no MLflow database at"),
        ("not-mlflow-sqlite", "is not an MLflow tracking database"),
        ("not-a-database", "not a readable SQLite database"),
        ("unreachable-http", "cannot reach the tracking store"),
        ("unsupported-scheme", "unsupported tracking URI scheme 'ftp'"),
        ("plain-directory", "MLflow's file store"),
        ("unknown-experiment", "no such experiment: nope"),
        ("repo-not-git", "not a git repository"),
        ("repo-missing", "not a git repository"),
    ],
)
def test_errors_are_one_line_and_exit_2(case: str, message: str, store: Store, repo: Repo, tmp_path: Path) -> None:
    store.good_run(repo)
    plain = tmp_path / "plain"
    plain.mkdir()
    uri, args = store.uri, []
    if case == "missing-sqlite":
        uri = f"sqlite:///{tmp_path / 'nowhere.db'}"
    elif case == "not-mlflow-sqlite":
        uri = not_mlflow_sqlite(tmp_path)
    elif case == "not-a-database":
        uri = not_a_database(tmp_path)
    elif case == "unreachable-http":
        uri = f"http://127.0.0.1:{free_port()}"
    elif case == "unsupported-scheme":
        uri = "ftp://example.com/mlflow"
    elif case == "plain-directory":
        uri = str(plain)
    elif case == "unknown-experiment":
        args = ["--experiment", "nope"]
    elif case == "repo-not-git":
        args = ["--repo", str(plain)]
    elif case == "repo-missing":
        args = ["--repo", str(tmp_path / "gone")]
    result = audit(repo.path, *args, uri=uri)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("mlrepro: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.err


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    target = tmp_path / "typo.db"
    assert audit(tmp_path, uri=f"sqlite:///{target}").code == 2
    assert not target.exists()


# --- credentials ----------------------------------------------------------------------------------


def test_credentials_in_the_tracking_uri_never_reach_stderr(tmp_path: Path) -> None:
    """A fresh process, so that whatever MLflow or urllib3 log on their own is seen too."""
    uri = f"http://analyst:s3cret@127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_TRACKING_URI", None)
    for args, extra_env in (
        (["audit", "--tracking-uri", uri], {}),
        (["audit"], {"MLFLOW_TRACKING_URI": uri}),
        (["audit", "--tracking-uri", uri + "/?token=s3cret"], {}),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "mlrepro", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**env, **extra_env}
        )
        assert proc.returncode == 2, proc.stderr
        assert "s3cret" not in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr
        assert "http://***@127.0.0.1" in proc.stderr


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://user:token@mlflow.example.com/path", "https://***@mlflow.example.com/path"),
        ("http://u:p@127.0.0.1:5000", "http://***@127.0.0.1:5000"),
        ("https://token@mlflow.example.com", "https://***@mlflow.example.com"),
        ("postgresql+psycopg2://mlflow:pw@db:5432/mlflow", "postgresql+psycopg2://***@db:5432/mlflow"),
        ("https://mlflow.example.com/api?token=abc&page=2", "https://mlflow.example.com/api?token=***&page=2"),
        ("https://mlflow.example.com/api?Password=abc", "https://mlflow.example.com/api?Password=***"),
        ("http://u:p@[::1", "http://***@[::1"),  # not parseable: redacted all the same
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:///tmp/mlflow.db", "sqlite:///tmp/mlflow.db"),
        ("sqlite:////var/lib/mlflow.db", "sqlite:////var/lib/mlflow.db"),  # absolute path: four slashes stay
        ("file:///srv/mlruns", "file:///srv/mlruns"),
        ("databricks", "databricks"),
    ],
)
def test_redact(uri: str, shown: str) -> None:
    assert redact(uri) == shown


@pytest.mark.parametrize(
    ("uri", "absolute"),
    [
        ("sqlite:///mlflow.db", "sqlite:///{cwd}/mlflow.db"),
        ("sqlite:///./stores/../mlflow.db?mode=ro", "sqlite:///{cwd}/mlflow.db?mode=ro"),
        ("sqlite:////var/lib/mlflow.db", "sqlite:////var/lib/mlflow.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("file:mlruns", "file://{cwd}/mlruns"),
        ("file:///srv/mlruns", "file:///srv/mlruns"),
        ("mlruns", "{cwd}/mlruns"),
        ("http://u:p@127.0.0.1:5000", "http://u:p@127.0.0.1:5000"),
        ("postgresql://db/mlflow", "postgresql://db/mlflow"),
        ("databricks", "databricks"),
    ],
)
def test_store_uris_are_made_absolute_before_anyone_else_reads_them(uri: str, absolute: str, tmp_path: Path) -> None:
    assert mlflow_store.absolute_uri(uri, tmp_path) == absolute.format(cwd=tmp_path.resolve())


def test_error_texts_are_redacted_wherever_the_url_sits() -> None:
    exc = ConnectionError("API request to http://u:s3cret@127.0.0.1:1/api/2.0/mlflow/experiments/search failed " + "x" * 400)
    text = mlflow_store._short(exc)
    assert "s3cret" not in text and "http://***@127.0.0.1:1/api" in text
    assert len(text) <= 300


def test_a_sqlite_uri_with_a_token_is_read_without_its_query_and_never_shown(store: Store, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}?token=s3cret"
    with pytest.raises(mlflow_store.TrackingStoreError) as caught:
        mlflow_store.check_uri(missing)
    assert "s3cret" not in str(caught.value) and f"no MLflow database at {tmp_path / 'nowhere.db'} " in str(caught.value)
    mlflow_store.check_uri(store.uri + "?token=s3cret")  # the query is SQLAlchemy's business, not part of the path


# --- output ---------------------------------------------------------------------------------------


def test_text_groups_findings_under_their_run(store: Store, repo: Repo) -> None:
    first = store.good_run(None, name="baseline", tags={"team": ""}, start_time=START)
    second = store.good_run(None, name="tuned", start_time=START + 1000)
    version = register(store.client, "churn", second, aliases=("champion",))
    result = audit(repo.path, "--select", "MLR501,MLR701,MLR801", uri=store.uri)
    assert result.code == 1
    assert result.out.splitlines() == [
        f"model churn version {version} (run {second})",
        f"  MLR801 served as alias @champion, but its source run {second} fails MLR501: the model in use cannot be rebuilt from what was recorded",
        f"run {first} ('baseline', experiment 'churn', started {STARTED})",
        "  MLR501 no git commit recorded (`mlrepro.git.commit` or `mlflow.source.git.commit`): the code that produced this run cannot be found",
        "  MLR701 required tag missing or empty: team",
        f"run {second} ('tuned', experiment 'churn', started 2023-11-14T22:13:21+00:00)",
        "  MLR501 no git commit recorded (`mlrepro.git.commit` or `mlflow.source.git.commit`): the code that produced this run cannot be found",
        "Found 4 findings.",
    ]


def test_json_carries_run_experiment_and_model(store: Store, repo: Repo) -> None:
    runs = populate(store, repo)
    result = audit(repo.path, "--output-format", "json", uri=store.uri)
    findings = json.loads(result.out)
    experiment = store.experiments["churn"]
    run_findings = [f for f in findings if not f["code"].startswith("MLR8")]
    assert run_findings and all(f["run_id"] == runs["bad"] and f["experiment_id"] == experiment for f in run_findings)
    assert all(f["model"] is None and f["filename"] is None for f in run_findings)
    models = {(f["code"], f["model"], f["run_id"]) for f in findings if f["code"].startswith("MLR8")}
    assert models == {
        ("MLR801", "churn/2", runs["bad"]),
        ("MLR802", "churn/3", None),
        ("MLR803", "churn/2", runs["bad"]),
        ("MLR804", "churn/2", runs["bad"]),  # Production by hand, around the gate
    }


def test_sarif_validates_and_junit_parses(store: Store, repo: Repo) -> None:
    populate(store, repo)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    log = json.loads(audit(repo.path, "--output-format", "sarif", uri=store.uri).out)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert not errors, errors
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"MLR801", "MLR802", "MLR803"}
    junit = audit(repo.path, "--output-format", "junit", uri=store.uri).out
    suite = ET.fromstring(junit).find("testsuite")
    assert suite is not None
    assert int(suite.get("failures", "0")) == len(results)


def test_output_file(store: Store, repo: Repo, tmp_path: Path) -> None:
    store.good_run(None)
    target = tmp_path / "reports" / "audit.json"
    result = audit(repo.path, "--output-format", "json", "-o", str(target), uri=store.uri)
    assert (result.code, result.out) == (1, "")
    assert [f["code"] for f in json.loads(target.read_text())] == ["MLR501"]


# --- half-written and corrupted runs --------------------------------------------------------------


def test_broken_runs_give_findings_not_tracebacks(store: Store, repo: Repo) -> None:
    bare = store.run(name=None, status="RUNNING")  # killed before it logged anything
    nan = store.good_run(repo, metrics={"loss": math.nan, "accuracy": 0.9})
    gone = store.good_run(repo, artifacts={"model/model.pkl": b"x" * 100})
    shutil.rmtree(store.artifacts / "churn" / gone)  # artifact store cleaned up behind MLflow's back
    register(store.client, "churn", gone, aliases=("champion",))
    for fmt in ("text", "json", "sarif", "github", "junit"):
        result = audit(repo.path, "--output-format", fmt, uri=store.uri)
        assert result.code in (0, 1), result.err
        assert result.err == "", result.err
    findings = json.loads(audit(repo.path, "--output-format", "json", uri=store.uri).out)
    flagged = {f["run_id"] for f in findings}
    assert bare in flagged  # no tags, no commit: it cannot be clean
    assert not any(f["run_id"] == nan and f["code"] in ("MLR501", "MLR701") for f in findings)
    assert audit(repo.path, "--no-artifacts", uri=store.uri).code in (0, 1)


def test_deleted_artifact_directory_lists_as_empty(store: Store) -> None:
    run = store.good_run(None, artifacts={"model/model.pkl": b"x"})
    shutil.rmtree(store.artifacts / "churn" / run)
    opened = mlflow_store.MlflowStore.open(store.uri)
    record = opened.get_run(run)
    assert record is not None
    assert opened.list_artifacts(record) == ()


def test_registry_version_is_a_string_on_sqlite(store: Store) -> None:
    run = store.good_run(None)
    register(store.client, "churn", run, stage="Production", aliases=("champion", "blue"))
    assert isinstance(store.client.search_model_versions("name='churn'")[0].version, int)  # what MLflow gives
    versions = list(mlflow_store.MlflowStore.open(store.uri).iter_model_versions())
    assert [(v.name, v.version, v.run_id, v.stage, v.aliases) for v in versions] == [("churn", "1", run, "Production", ("blue", "champion"))]
