"""The SQL fast path (sources/mlflow_sql.py) against MLflow's own client, on real stores:
SQLite (a copy of the migrated template) and PostgreSQL (a throwaway database on the local
server), each filled through MlflowClient as training code fills it. Both paths must give the
same RunRecords, in the same order, and the audit the same findings; the fast path must leave
the store's bytes alone and refuse to write; whatever it cannot read exactly, it hands back to
the client with one line saying why."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audit_helpers import Repo, Store, audit_json, init_repo
from mlrepro.records import RunRecord
from mlrepro.sources.mlflow_sql import VERIFIED_REVISIONS, SqlFastPathUnavailable, SqlRunReader
from mlrepro.sources.mlflow_store import MlflowStore, TrackingStoreError

BASE = 1_700_000_000_000  # runs start at fixed times: ordering and time filters are exact
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"


# --- stores ------------------------------------------------------------------------------------


def build(store: Store, repo: Repo) -> dict[str, str]:
    """Runs as teams leave them, through the client. Returns name -> run id."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput, Metric

    client = store.client
    commit = repo.commit({"train.py": f"print({uuid.uuid4().hex!r})\n"}, "a newer version")  # one per store
    runs: dict[str, str] = {}
    runs["good"] = store.good_run(
        repo, name="good", start_time=BASE, metrics={"accuracy": 0.91, "nan": math.nan, "inf": math.inf, "ninf": -math.inf}
    )
    # Two runs started in the same millisecond: the run id breaks the tie, as in search_runs.
    runs["tie-a"] = store.good_run(repo, name="tie-a", start_time=BASE + 1_000)
    runs["tie-b"] = store.good_run(repo, name="tie-b", start_time=BASE + 1_000)
    runs["failed"] = store.run(name="failed", status="FAILED", start_time=BASE + 2_000, params={"seed": "1", "lr": "0.1"}, tags={"team": "fraud"})
    runs["killed"] = store.run(name="killed", status="KILLED", start_time=BASE + 3_000)
    runs["running"] = store.run(name="running", status="RUNNING", start_time=BASE + 4_000, metrics={"loss": 0.5})
    runs["sweep"] = store.good_run(repo, name="sweep", start_time=BASE + 5_000)
    for n in range(3):
        runs[f"trial-{n}"] = store.good_run(
            repo, name=f"trial-{n}", start_time=BASE + 6_000 + n, params={"seed": "42", "max_depth": str(n)},
            tags={"mlflow.parentRunId": runs["sweep"], "mlflow.source.git.commit": commit},
        )
    # Metrics logged at many steps, some steps twice, the last value not the largest.
    runs["steps"] = store.run(name="steps", start_time=BASE + 7_000)
    history = [Metric("loss", v, BASE + 7_000 + i, s) for i, (s, v) in enumerate([(0, 1.0), (1, 0.6), (1, 0.7), (2, math.nan), (3, 0.4), (3, 0.2)])]
    history += [Metric("acc", v, BASE + 7_100, s) for s, v in [(5, 0.9), (4, 0.95)]]
    client.log_batch(runs["steps"], metrics=history)
    # Dataset inputs: several per run, no digest, a remote source, two contexts, one shared dataset.
    runs["datasets"] = store.run(name="datasets", start_time=BASE + 8_000)
    client.log_inputs(runs["datasets"], [
        DatasetInput(Dataset("train", "d1", "local", json.dumps({"uri": "data/train.csv"}), None, None), [InputTag("batch", "nightly"), InputTag("mlflow.data.context", "training"), InputTag("owner", "ml")]),
        DatasetInput(Dataset("eval", "", "s3", json.dumps({"uri": "s3://bucket/eval.parquet"}), None, None), [InputTag("mlflow.data.context", "validation")]),
        DatasetInput(Dataset("raw", "d3", "http", json.dumps({"url": "https://example.com/raw.csv"}), None, None), []),
    ])
    runs["shares-dataset"] = store.good_run(repo, name="shares-dataset", start_time=BASE + 9_000, datasets=[("train", "d1", "local", json.dumps({"uri": "data/train.csv"}))])
    # MLflow 3 logged models, at two steps, listed in step order.
    runs["models"] = store.run(name="models", start_time=BASE + 10_000)
    experiment = store.experiment()
    late = client.create_logged_model(experiment, name="late", source_run_id=runs["models"]).model_id
    early = client.create_logged_model(experiment, name="early", source_run_id=runs["models"]).model_id
    client.log_outputs(runs["models"], [LoggedModelOutput(late, 7), LoggedModelOutput(early, 2)])
    runs["generated-name"] = store.run(name=None, start_time=BASE + 11_000)
    runs["odd-strings"] = store.run(
        name="quote's \"odd\" ☃", start_time=BASE + 12_000,
        params={"text": "a\nb\tc 'q' \"dq\" \\ ☃", "empty": ""}, tags={"long": "x" * 8_000, "json": '{"a": [1, 2]}', "blank": ""},
    )
    runs["bare"] = store.run(name="bare", start_time=BASE + 13_000)
    runs["other-experiment"] = store.good_run(repo, experiment="fraud", name="other-experiment", start_time=BASE + 500)
    # Gone from every search: a deleted run, and a run in a deleted experiment.
    runs["deleted"] = store.good_run(repo, name="deleted", start_time=BASE + 14_000)
    client.delete_run(runs["deleted"])
    runs["in-deleted-experiment"] = store.good_run(repo, experiment="archive", name="in-deleted-experiment", start_time=BASE + 15_000)
    client.delete_experiment(store.experiment("archive"))
    return runs


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    files = {"train.py": "print('train')\n", "pyproject.toml": "[tool.mlrepro]\n", "data/train.csv": "x,y\n1,0\n"}
    return init_repo(tmp_path_factory.mktemp("repo"), files)


def _client_store(uri: str, path: Path, artifacts: Path, cwd: Path) -> Store:
    from mlflow import MlflowClient

    previous = Path.cwd()
    os.chdir(cwd)  # MLflow fixes the default artifact root against the current directory
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments()  # a new PostgreSQL database gets its schema here
    finally:
        os.chdir(previous)
    return Store(uri, path, artifacts, client)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path, repo: Repo) -> tuple[Store, dict[str, str]]:
    base = tmp_path_factory.mktemp("sqlite-store")
    path = base / "mlflow.db"
    shutil.copy(mlflow_template, path)
    store = _client_store(f"sqlite:///{path}", path, base / "artifacts", base)
    return store, build(store, repo)


def _postgres_admin() -> Any:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    """A throwaway database for this module, dropped at its end."""
    admin = _postgres_admin()
    name = f"mlrepro_fast_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def postgres_store(postgres_uri: str, tmp_path_factory: pytest.TempPathFactory, repo: Repo) -> tuple[Store, dict[str, str]]:
    base = tmp_path_factory.mktemp("postgres-store")
    store = _client_store(postgres_uri, base / "no-database-file", base / "artifacts", base)
    return store, build(store, repo)


@pytest.fixture(params=["sqlite", "postgres"])
def scenario(request: pytest.FixtureRequest) -> tuple[Store, dict[str, str]]:
    return request.getfixturevalue(f"{request.param}_store")


def postgres_checksum(uri: str) -> str:
    """Every row of every table, hashed in a stable order."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=uri.rsplit("/", 1)[1])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            digest = hashlib.sha256()
            for (table,) in cur.fetchall():
                cur.execute(f'SELECT coalesce(md5(string_agg(t::text, \'|\' ORDER BY t::text)), \'\') FROM "{table}" t')
                digest.update(f"{table}:{cur.fetchone()[0]};".encode())
            return digest.hexdigest()
    finally:
        conn.close()


def fingerprint(store: Store) -> str:
    return store.digest() if store.uri.startswith("sqlite") else postgres_checksum(store.uri)


# --- helpers -----------------------------------------------------------------------------------


def comparable(records: list[RunRecord]) -> list[RunRecord]:
    """NaN is unequal to itself: spell it out before comparing."""
    return [dataclasses.replace(r, metrics={k: "NaN" if math.isnan(v) else v for k, v in r.metrics.items()}) for r in records]


def both_paths(uri: str, filter_string: str = "", include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> tuple[list[RunRecord], list[RunRecord]]:
    store = MlflowStore.open(uri)
    experiments = store.experiments(include, exclude)
    client = list(store.iter_runs(experiments, filter_string))
    with SqlRunReader.open(uri) as reader:
        reader.prepare(experiments, [filter_string])
        fast = list(reader.iter_runs(experiments, filter_string))
    return client, fast


@pytest.fixture
def fast_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The filters the fast path was asked to read (it still reads them)."""
    calls: list[str] = []
    original = SqlRunReader.iter_runs

    def spy(self: SqlRunReader, experiments: Any, filter_string: str = "") -> Iterator[RunRecord]:
        calls.append(filter_string)
        return original(self, experiments, filter_string)

    monkeypatch.setattr(SqlRunReader, "iter_runs", spy)
    return calls


def client_path_audit(store: Store, cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """The audit as it was before the fast path: no database to read directly."""
    import mlrepro.audit.sources as sources

    with monkeypatch.context() as patch:
        patch.setattr(sources, "backend_database", lambda *_: None)
        return audit_json(store, cwd, *args)


# --- the same records ----------------------------------------------------------------------------


def test_the_installed_mlflows_schema_is_verified(scenario: tuple[Store, dict[str, str]]) -> None:
    """The revision MLflow's SqlAlchemyStore gives a store it creates. When this fails, MLflow's
    schema moved on: compare the tables mlflow_sql reads with the new revision's, run these
    tests, then add the revision to VERIFIED_REVISIONS."""
    from sqlalchemy import create_engine, text

    store, _ = scenario
    engine = create_engine(store.uri)
    try:
        with engine.connect() as conn:
            revisions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()
    assert len(revisions) == 1 and revisions[0] in VERIFIED_REVISIONS


@pytest.mark.parametrize(
    "filter_string",
    ["", f"attributes.start_time >= {BASE + 2_000}", f"attributes.end_time >= {BASE + 62_000}", "attributes.status = 'RUNNING'",
     f"start_time > {BASE} and status != 'FINISHED'"],
)
def test_the_fast_path_gives_the_clients_records_in_its_order(scenario: tuple[Store, dict[str, str]], filter_string: str) -> None:
    store, runs = scenario
    client, fast = both_paths(store.uri, filter_string)
    assert client, "the filter selects runs"
    assert comparable(fast) == comparable(client)
    assert [r.run_id for r in fast] == [r.run_id for r in client]


def test_the_scenario_reaches_what_the_fast_path_must_get_right(scenario: tuple[Store, dict[str, str]]) -> None:
    """Not a tautology of the comparison above: the stores hold what makes reading them hard."""
    store, runs = scenario
    client, fast = both_paths(store.uri)
    by_id = {r.run_id: r for r in fast}
    assert runs["deleted"] not in by_id and runs["in-deleted-experiment"] not in by_id
    assert math.isnan(by_id[runs["good"]].metrics["nan"]) and by_id[runs["good"]].metrics["inf"] > 1e308
    assert by_id[runs["steps"]].metrics["loss"] == 0.2, "the last value logged at the last step"
    assert by_id[runs["steps"]].metrics["acc"] == 0.9
    assert [(d.name, d.digest, d.context) for d in by_id[runs["datasets"]].datasets] == [
        ("eval", None, "validation"), ("raw", "d3", None), ("train", "d1", "training")]
    assert len(by_id[runs["models"]].model_ids) == 2
    assert by_id[runs["generated-name"]].name_generated and by_id[runs["generated-name"]].run_name
    assert by_id[runs["odd-strings"]].tags["long"] == "x" * 8_000 and by_id[runs["odd-strings"]].params["empty"] == ""
    assert by_id[runs["trial-0"]].tags["mlflow.parentRunId"] == runs["sweep"]
    order = [r.run_id for r in fast]
    assert order.index(runs["other-experiment"]) < order.index(runs["tie-a"]), "runs of several experiments interleave by start time"
    assert {r.status for r in fast} >= {"FINISHED", "FAILED", "KILLED", "RUNNING"}


def test_experiment_selection_is_the_clients(sqlite_store: tuple[Store, dict[str, str]]) -> None:
    store, runs = sqlite_store
    client, fast = both_paths(store.uri, include=("fraud",))
    assert [r.run_id for r in fast] == [runs["other-experiment"]] and comparable(fast) == comparable(client)
    client, fast = both_paths(store.uri, exclude=("fraud",))
    assert runs["other-experiment"] not in {r.run_id for r in fast} and comparable(fast) == comparable(client)


# --- the same audit ------------------------------------------------------------------------------


def test_the_audit_finds_the_same_through_both_paths(
    scenario: tuple[Store, dict[str, str]], repo: Repo, monkeypatch: pytest.MonkeyPatch, fast_path_calls: list[str]
) -> None:
    store, runs = scenario
    before = fingerprint(store)
    fast_code, fast = audit_json(store, repo.path)
    assert fast_path_calls == [""], "the audit read its runs through the fast path"
    client_code, client = client_path_audit(store, repo.path, monkeypatch)
    assert fast_path_calls == [""], "and the second audit through the client"
    assert fast_code == client_code == 1
    assert fast == client
    audited = {f["run_id"] for f in fast}
    assert {runs["failed"], runs["trial-1"], runs["odd-strings"]} <= audited
    assert runs["deleted"] not in audited
    assert fingerprint(store) == before, "the audit wrote nothing"


def test_since_and_incremental_audits_agree(
    sqlite_store: tuple[Store, dict[str, str]], repo: Repo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fast_path_calls: list[str]
) -> None:
    store, _ = sqlite_store
    since = ("--since", "2023-11-14T22:13:25+00:00")  # BASE + 5 s
    assert audit_json(store, repo.path, *since) == client_path_audit(store, repo.path, monkeypatch, *since)
    monkeypatch.setenv("MLREPRO_CACHE_DIR", str(tmp_path / "fast"))
    first = audit_json(store, repo.path, "--incremental")
    second = audit_json(store, repo.path, "--incremental")  # started, ended since, or still RUNNING
    monkeypatch.setenv("MLREPRO_CACHE_DIR", str(tmp_path / "client"))
    assert client_path_audit(store, repo.path, monkeypatch, "--incremental") == first
    assert client_path_audit(store, repo.path, monkeypatch, "--incremental") == second
    assert len(fast_path_calls) == 1 + 1 + 3


# --- read-only -----------------------------------------------------------------------------------


def test_the_fast_path_refuses_to_write(scenario: tuple[Store, dict[str, str]]) -> None:
    from sqlalchemy import text

    store, _ = scenario
    before = fingerprint(store)
    with SqlRunReader.open(store.uri) as reader:
        if reader.dialect == "postgresql":  # one snapshot for the whole read, and no write in it
            assert reader.connection.exec_driver_sql("SHOW transaction_isolation").scalar() == "repeatable read"
            assert reader.connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
        with pytest.raises(Exception, match="readonly database|read-only transaction"):
            reader.connection.execute(text("INSERT INTO experiment_tags (key, value, experiment_id) VALUES ('mlrepro.test', 'x', 0)"))
    with SqlRunReader.open(store.uri) as reader:
        with pytest.raises(Exception, match="readonly database|read-only transaction"):
            reader.connection.exec_driver_sql("UPDATE runs SET name = 'overwritten'")
    assert fingerprint(store) == before


def test_a_writer_is_not_kept_waiting_by_a_long_sqlite_read(sqlite_store: tuple[Store, dict[str, str]], tmp_path: Path) -> None:
    """Training jobs keep logging while the nightly audit reads: no lock may outlive a batch."""
    store, _ = sqlite_store
    copy = tmp_path / "mlflow.db"
    shutil.copy(store.path, copy)
    uri = f"sqlite:///{copy}"
    experiments = MlflowStore.open(uri).experiments()
    with SqlRunReader.open(uri, batch_size=2) as reader:
        runs = reader.iter_runs(experiments)
        next(runs)  # in the middle of the first batch
        writer = sqlite3.connect(copy, timeout=0.2)
        try:
            with writer:
                writer.execute("UPDATE runs SET name = 'renamed' WHERE name = 'bare'")
        finally:
            writer.close()
        assert sum(1 for _ in runs) > 10


# --- falling back, failing clearly ---------------------------------------------------------------


def test_an_unverified_revision_falls_back_to_the_client_with_the_reason(
    sqlite_store: tuple[Store, dict[str, str]], repo: Repo, monkeypatch: pytest.MonkeyPatch, fast_path_calls: list[str]
) -> None:
    import mlrepro.sources.mlflow_sql as mlflow_sql

    store, _ = sqlite_store
    expected = audit_json(store, repo.path)
    monkeypatch.setattr(mlflow_sql, "VERIFIED_REVISIONS", frozenset({"0123456789ab"}))
    fast_path_calls.clear()
    assert audit_json(store, repo.path) == expected
    assert fast_path_calls == []
    _, text = _cli(repo.path, "--tracking-uri", store.uri)
    notes = [line for line in text.splitlines() if line.startswith("info:")]
    assert len(notes) == 1
    assert "not the SQL fast path" in notes[0] and "0123456789ab" in notes[0] and "schema revision" in notes[0]


def test_an_unknown_revision_in_the_database_is_refused_not_read(sqlite_store: tuple[Store, dict[str, str]], tmp_path: Path) -> None:
    store, _ = sqlite_store
    copy = tmp_path / "mlflow.db"
    shutil.copy(store.path, copy)
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    conn.close()
    with pytest.raises(SqlFastPathUnavailable, match="'ffffffffffff' is not one this mlrepro has verified"):
        SqlRunReader.open(f"sqlite:///{copy}")


def test_what_the_fast_path_cannot_translate_goes_to_the_client(sqlite_store: tuple[Store, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = sqlite_store
    experiments = MlflowStore.open(store.uri).experiments()
    with SqlRunReader.open(store.uri) as reader:
        for unreadable in ("tags.team = 'fraud'", "attributes.start_time >= 5 OR status = 'RUNNING'", "metrics.loss < 1"):
            with pytest.raises(SqlFastPathUnavailable, match="no SQL translation"):
                reader.prepare(experiments, ["", unreadable])
    for uri, reason in (("http://127.0.0.1:5000", "not a database URI"), ("mysql://u@h/db", "not verified on mysql")):
        with pytest.raises(SqlFastPathUnavailable, match=reason):
            SqlRunReader.open(uri)
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    with pytest.raises(SqlFastPathUnavailable, match="workspaces"):
        SqlRunReader.open(store.uri)


def test_a_postgresql_uri_without_a_driver_is_read_with_the_verified_one(postgres_store: tuple[Store, dict[str, str]]) -> None:
    """`mlflow server --backend-store-uri postgresql://...` names no driver, and SQLAlchemy 2.1
    would then pick psycopg 3; the fast path reads with psycopg2, which it was tested with."""
    store, runs = postgres_store
    experiments = MlflowStore.open(store.uri).experiments()
    with SqlRunReader.open(store.uri.replace("postgresql+psycopg2://", "postgresql://")) as reader:
        assert runs["good"] in {r.run_id for r in reader.iter_runs(experiments)}
    with pytest.raises(SqlFastPathUnavailable, match="not verified with the pg8000 driver"):
        SqlRunReader.open(store.uri.replace("+psycopg2", "+pg8000"))


def test_a_start_time_the_client_cannot_read_is_read_and_ordered_last(sqlite_store: tuple[Store, dict[str, str]], tmp_path: Path) -> None:
    """MLflow's RunInfo refuses a missing start time, so one such row (a bulk import, a
    hand-edited store) stops the client's whole search; the fast path reads it, last, as the
    client's ORDER BY would put it."""
    store, runs = sqlite_store
    copy = tmp_path / "mlflow.db"
    shutil.copy(store.path, copy)
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute("UPDATE runs SET start_time = NULL WHERE run_uuid = ?", (runs["tie-a"],))
    conn.close()
    uri = f"sqlite:///{copy}"
    client = MlflowStore.open(uri)
    experiments = client.experiments()
    with pytest.raises(TrackingStoreError, match="start_time cannot be None"):
        list(client.iter_runs(experiments))
    with SqlRunReader.open(uri) as reader:
        fast = list(reader.iter_runs(experiments))
    assert fast[-1].run_id == runs["tie-a"] and fast[-1].start_time is None


def test_a_connection_dropped_mid_read_is_an_error_not_a_shorter_audit(postgres_store: tuple[Store, dict[str, str]]) -> None:
    store, _ = postgres_store
    experiments = MlflowStore.open(store.uri).experiments()
    admin = _postgres_admin()
    try:
        with SqlRunReader.open(store.uri, batch_size=2) as reader:
            runs = reader.iter_runs(experiments)
            next(runs)
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (store.uri.rsplit("/", 1)[1],))
            with pytest.raises(TrackingStoreError, match="cannot read runs from the database"):
                list(runs)
    finally:
        admin.close()


def test_an_unreadable_database_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 200)
    with pytest.raises(TrackingStoreError, match="cannot read the tracking database: .*not a database"):
        SqlRunReader.open(f"sqlite:///{garbage}")
    with pytest.raises(TrackingStoreError, match="no MLflow database at"):
        SqlRunReader.open(f"sqlite:///{tmp_path / 'missing.db'}")
    with pytest.raises(TrackingStoreError, match='cannot read the tracking database: .*"mlrepro_no_such_database" does not exist'):
        SqlRunReader.open(f"{POSTGRES}/mlrepro_no_such_database")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(TrackingStoreError, match="not an MLflow tracking database"):
        SqlRunReader.open(f"sqlite:///{empty}")


# --- a team server and its database --------------------------------------------------------------


@pytest.fixture
def server_scenario(mlflow_server: str, repo: Repo, tmp_path: Path) -> tuple[Store, dict[str, str], str]:
    """Runs logged through `mlflow server` on PostgreSQL (tests/audit/conftest.py), in an
    experiment of this test's own (the server is shared)."""
    from mlflow import MlflowClient

    from audit_helpers import ServerStore

    store = ServerStore(mlflow_server, tmp_path / "no-database-file", tmp_path / "staging", MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server))
    tag = uuid.uuid4().hex[:8]
    experiment = f"fast-{tag}"
    runs = {
        "good": store.good_run(repo, experiment=experiment, name="good", metrics={"accuracy": 0.9, "nan": math.nan}),
        "no-team": store.good_run(repo, experiment=experiment, name="no-team", tags={"team": ""}),
        "running": store.run(experiment=experiment, name="running", status="RUNNING", start_time=BASE),
    }
    return store, runs, experiment


def _configure(tmp_path: Path, backend: str) -> str:
    """A configuration naming the server's database (the audit still runs in the repository)."""
    config = tmp_path / "config" / "pyproject.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[tool.mlrepro]\nbackend-store-uri = "{backend}"\n')
    return str(config)


def _cli(cwd: Path, *args: str) -> tuple[int, str]:
    import contextlib
    import io

    from mlrepro.cli import main

    out = io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            code = main(["audit", "--quiet", *args])
    finally:
        os.chdir(previous)
    return code, out.getvalue()


def test_a_servers_database_is_read_directly_with_the_same_findings(
    server_scenario: tuple[Store, dict[str, str], str], postgres_database: str, repo: Repo, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, fast_path_calls: list[str],
) -> None:
    store, runs, experiment = server_scenario
    config = _configure(tmp_path, postgres_database)
    through_rest = audit_json(store, repo.path, "--experiment", experiment)
    assert fast_path_calls == []
    direct = audit_json(store, repo.path, "--experiment", experiment, "--config", config)
    assert fast_path_calls == [""]
    assert direct == through_rest and direct[0] == 1
    assert {f["run_id"] for f in direct[1]} >= {runs["no-team"], runs["running"]}
    # The variable beats the file (which may then hold no password).
    monkeypatch.setenv("MLREPRO_BACKEND_STORE_URI", postgres_database)
    wrong = _configure(tmp_path / "wrong", f"{POSTGRES}/mlrepro_no_such_database")
    assert audit_json(store, repo.path, "--experiment", experiment, "--config", wrong) == through_rest
    assert fast_path_calls == ["", ""]


def test_a_backend_store_that_is_not_the_servers_falls_back(
    server_scenario: tuple[Store, dict[str, str], str], sqlite_store: tuple[Store, dict[str, str]], repo: Repo, tmp_path: Path,
    fast_path_calls: list[str],
) -> None:
    store, _, experiment = server_scenario
    other, _ = sqlite_store
    code, out = _cli(repo.path, "--tracking-uri", store.uri, "--experiment", experiment, "--no-artifacts", "--config", _configure(tmp_path, other.uri))
    assert code == 1 and fast_path_calls == []
    assert "info: runs read through the MLflow client, not the SQL fast path: the database does not hold the tracking store's active experiments" in out


@pytest.mark.parametrize("backend, message", [
    (f"{POSTGRES}/mlrepro_no_such_database", 'database "mlrepro_no_such_database" does not exist'),
    ("sqlite:///garbage.db", "file is not a database"),
])
def test_an_unreadable_backend_store_exits_2_in_one_line(
    server_scenario: tuple[Store, dict[str, str], str], repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    backend: str, message: str,
) -> None:
    store, _, experiment = server_scenario
    config = _configure(tmp_path, backend.replace("postgres@", "postgres:s3cret@"))
    (Path(config).parent / "garbage.db").write_bytes(b"not a database at all" * 300)
    code, _ = _cli(repo.path, "--tracking-uri", store.uri, "--experiment", experiment, "--no-artifacts", "--config", config)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "cannot read the tracking database" in err
    assert "Traceback" not in err and "s3cret" not in err
    assert len(err.strip().splitlines()) == 1


def test_backend_store_uri_must_be_a_string(repo: Repo, tmp_path: Path, sqlite_store: tuple[Store, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    store, _ = sqlite_store
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.mlrepro]\nbackend-store-uri = 5\n")
    code, _ = _cli(repo.path, "--tracking-uri", store.uri, "--config", str(config))
    assert code == 2 and "backend-store-uri must be a non-empty string" in capsys.readouterr().err
