"""benchmarks/make_store.py: a store of generated runs reads back through MLflow's own client
as generated, on SQLite and on PostgreSQL, and the audit finds in each run the defect of its
kind (and nothing in the clean ones)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _store_gen as gen  # noqa: E402
import make_store  # noqa: E402

RUNS = 200


def _audit(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *options: str) -> tuple[int, list[dict[str, object]]]:
    """``mlrepro audit`` in this process (MLflow is imported already), outside any repository."""
    from mlrepro.cli import main

    out = tmp_path / f"findings-{uuid.uuid4().hex[:6]}.json"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLREPRO_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["audit", "--tracking-uri", uri, "--isolated", "-q", "--output-format", "json", "-o", str(out), *options])
    return code, json.loads(out.read_text(encoding="utf-8"))


def _migrated(template: Path, path: Path) -> str:
    """A copy of the session's database that MLflow created and migrated (migrating takes seconds)."""
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> gen.Summary:
    base = tmp_path_factory.mktemp("generated")
    return gen.generate(gen.Options(uri=_migrated(mlflow_template, base / "mlflow.db"), runs=RUNS, seed=7, artifacts=base / "artifacts"))


@pytest.fixture(scope="module")
def postgresql_store() -> Iterator[gen.Summary]:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")
    admin.autocommit = True
    name = f"mlrepro_gen_{uuid.uuid4().hex[:10]}"
    try:
        # The generator creates the database it is given.
        yield gen.generate(gen.Options(uri=f"postgresql://postgres@127.0.0.1:5432/{name}", runs=RUNS, seed=7,
                                       artifact_root="s3://mlrepro-bench/artifacts"))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def summary(request: pytest.FixtureRequest) -> gen.Summary:
    return request.getfixturevalue(f"{request.param}_store")


def test_the_client_reads_every_run_and_the_sample_value_for_value(summary: gen.Summary) -> None:
    assert sum(summary.kinds.values()) == summary.rows["runs"] == RUNS
    # Every kind, even in a small store; sweeps nest children under their parents.
    kinds = set(gen.KIND_CODES) - (set() if summary.artifact_files else gen.ARTIFACT_KINDS)
    assert set(summary.kinds) == kinds, kinds - set(summary.kinds)
    assert summary.rows["metrics"] > summary.rows["latest_metrics"] > 2 * RUNS
    assert summary.rows["inputs"] > 0 and summary.rows["input_tags"] > 0 and summary.rows["logged_models"] > 0
    assert {e.kind for e in summary.sample} == kinds
    # Tags, params, latest metrics, history, datasets, logged models, status, times and
    # artifact URI of each sampled run; and the number of active runs, paged as the audit does.
    assert gen.verify(summary, full_count=True) == []


def test_a_deleted_run_is_deleted(summary: gen.Summary) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=summary.uri)
    deleted = next(e for e in summary.sample if e.kind == "deleted")
    assert client.get_run(deleted.run_id).info.lifecycle_stage == "deleted"
    active = client.search_runs([deleted.experiment_id], max_results=1000)
    assert deleted.run_id not in {r.info.run_id for r in active} and active
    child = next(e for e in summary.sample if e.kind == "sweep-child")
    parent = client.get_run(child.tags["mlflow.parentRunId"])
    assert parent.data.params["n_trials"] and parent.info.experiment_id == child.experiment_id


def test_the_audit_finds_the_defect_of_each_kind(summary: gen.Summary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, findings = _audit(summary.uri, tmp_path, monkeypatch, "--no-artifacts")
    assert code == 1
    found = {f["code"] for f in findings}
    expected = set().union(*gen.KIND_CODES.values(), *summary.versions.values()) - {"MLR704", "MLR705"}
    assert found == expected
    assert gen.check_findings(summary, findings) == []
    clean = [e for e in summary.sample if e.kind in ("clean", "mlflow-only") and e.run_id not in summary.rerun_sources]
    assert len(clean) >= 3  # nothing reported on them: check_findings looked
    # Runs outside the sample count too: one run's finding missing is a difference.
    sampled = {e.run_id for e in summary.sample}
    other = next(f for f in findings if f["run_id"] and not f["model"] and f["run_id"] not in sampled)
    runs = sum(1 for f in findings if f["code"] == other["code"])  # one finding per run and code
    assert gen.check_findings(summary, [f for f in findings if f is not other]) == [
        f"{other['code']} on {runs - 1} runs, {runs} runs are of kinds that have it"
    ]


def test_the_artifact_files_list_with_their_sizes(sqlite_store: gen.Summary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sqlite_store.artifact_files > 0
    big = next(e for e in sqlite_store.sample if e.kind == "big-run")
    folder = Path(big.artifact_uri.removeprefix("file://"))
    assert {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()} == big.artifact_files
    assert sum(big.artifact_files.values()) > 1024 * gen.MIB
    code, findings = _audit(sqlite_store.uri, tmp_path, monkeypatch, "--artifacts")
    assert code == 1
    assert gen.check_findings(sqlite_store, findings, artifacts=True) == []
    assert {"MLR704", "MLR705"} <= {f["code"] for f in findings}


def _dump(path: Path) -> list[object]:
    conn = sqlite3.connect(path)
    try:
        # Experiments carry the wall-clock time MLflow created them at; nothing else does.
        tables = [sorted(conn.execute("SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments"))]
        return tables + [
            sorted(conn.execute(f"SELECT * FROM {table}"), key=repr)
            for table in ("runs", "tags", "params", "metrics", "latest_metrics", "datasets", "inputs", "input_tags",
                          "logged_models", "model_versions", "model_version_tags", "registered_model_aliases")
        ]
    finally:
        conn.close()


def test_the_same_seed_gives_the_same_store_and_append_adds_runs(tmp_path: Path, mlflow_template: Path) -> None:
    options = {"runs": 60, "experiments": 3, "seed": 3, "artifact_root": "s3://bucket/artifacts"}
    first = gen.generate(gen.Options(uri=_migrated(mlflow_template, tmp_path / "a.db"), **options))
    gen.generate(gen.Options(uri=_migrated(mlflow_template, tmp_path / "b.db"), **options))
    dump = _dump(tmp_path / "a.db")
    assert dump == _dump(tmp_path / "b.db") and all(dump[:6])

    assert make_store.main(["--uri", f"sqlite:///{tmp_path / 'a.db'}", "--runs", "10"]) == 2  # refuses to overwrite
    now = datetime.now(timezone.utc)
    added = gen.generate(gen.Options(uri=f"sqlite:///{tmp_path / 'a.db'}", runs=25, experiments=3, seed=3,
                                     artifact_root="s3://bucket/artifacts", append=True, start=now))
    assert added.active_before == first.runs - first.deleted
    # New runs, started from now on: what an --incremental audit picks up.
    assert not {e.run_id for e in added.sample} & {e.run_id for e in first.sample}
    assert min(e.start_time for e in added.sample) >= now.timestamp() * 1000
    assert gen.verify(added, full_count=True) == []
    conn = sqlite3.connect(tmp_path / "a.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 85
        assert conn.execute("SELECT COUNT(*) FROM experiments").fetchone()[0] == 4  # Default and the three, reused
    finally:
        conn.close()

