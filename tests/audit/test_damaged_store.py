"""A damaged SQLite tracking store: every command refuses it in one line (exit 2) and leaves
its bytes as they were. MLflow's SQL store repairs what it finds missing when it opens a
database (it creates tables, migrates, adds the default experiment), so the store is checked
first and the read-only commands open it read-only. Fresh processes, so that whatever MLflow
logs on its own is seen too."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from audit_helpers import Repo, Store, init_repo, register

from mlrepro.sources import mlflow_store
from mlrepro.sources.mlflow_store import MlflowStore, TrackingStoreError


def damage(store: Store, how: str) -> None:
    with sqlite3.connect(store.path) as conn:
        if how == "tags-dropped":
            conn.execute("DROP TABLE tags")
        elif how == "registry-table-dropped":
            conn.execute("DROP TABLE model_version_tags")
        elif how == "unknown-revision":
            conn.execute("UPDATE alembic_version SET version_num = 'f00dfacecafe'")
        elif how == "no-revision":
            conn.execute("DELETE FROM alembic_version")
    conn.close()


def tables(store: Store) -> set[str]:
    with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True) as conn:
        found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    return found


def mlrepro(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run([sys.executable, "-m", "mlrepro", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return init_repo(tmp_path, {"train.py": "print('train')\n", "pyproject.toml": "[tool.mlrepro]\n"})


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("tags-dropped", "missing tables: tags"),
        ("registry-table-dropped", "missing tables: model_version_tags"),
        ("unknown-revision", "schema revision 'f00dfacecafe'"),
        ("no-revision", "no schema revision"),
    ],
)
def test_a_damaged_store_is_refused_in_one_line_and_left_unchanged(how: str, message: str, store: Store, repo: Repo) -> None:
    store.good_run(repo)
    damage(store, how)
    before, names = store.digest(), tables(store)
    done = mlrepro(repo.path, "audit", "--tracking-uri", store.uri)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("mlrepro: error: "), done.stderr
    assert message in done.stderr, done.stderr
    assert store.digest() == before, "the database file's bytes are unchanged"
    assert tables(store) == names


def test_every_command_refuses_a_damaged_store_even_those_that_write(store: Store, repo: Repo, tmp_path: Path) -> None:
    run_id = store.good_run(repo)
    version = register(store.client, "churn", run_id)
    damage(store, "tags-dropped")
    before = store.digest()
    for args in (
        ("report", "--output", str(tmp_path / "report.html")),
        ("reproduce", run_id),
        ("promote", "churn", version, "--to", "champion"),
    ):
        done = mlrepro(repo.path, *args, "--tracking-uri", store.uri)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "missing tables: tags" in done.stderr, (args, done.stderr)
        assert store.digest() == before, args
    assert not (tmp_path / "report.html").exists()


def test_verbose_shows_the_traceback_and_still_exits_2(store: Store, repo: Repo) -> None:
    damage(store, "tags-dropped")
    before = store.digest()
    done = mlrepro(repo.path, "audit", "--tracking-uri", store.uri, "-v")
    assert done.returncode == 2, done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert "missing tables: tags" in done.stderr
    assert store.digest() == before


def test_the_store_is_opened_read_only_unless_asked_to_write(store: Store) -> None:
    experiment = store.experiment()
    before = store.digest()
    reader = MlflowStore.open(store.uri)
    assert sorted(e.name for e in reader.experiments()) == ["Default", "churn"]
    with pytest.raises(TrackingStoreError, match="readonly database"):
        reader.create_run(experiment, "nope", {})
    assert store.digest() == before
    writer = MlflowStore.open(store.uri, writable=True)
    assert writer.get_run(writer.create_run(experiment, "yes", {})) is not None
    assert store.digest() != before


def test_a_read_only_open_leaves_no_directory_behind(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's read-only mode needs a file: URI; MLflow makes the parent directories of what it
    takes for the path, so a naive one would leave a `file:` directory in the current one."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    MlflowStore.open(store.uri).experiments()
    assert list(elsewhere.iterdir()) == []


def test_a_store_with_special_characters_in_its_path_opens_read_only(store: Store, tmp_path: Path) -> None:
    odd = tmp_path / "a dir #1" / "mlflow.db"
    odd.parent.mkdir()
    odd.write_bytes(store.path.read_bytes())
    uri = f"sqlite:///{odd}"
    mlflow_store.check_uri(uri)
    assert [e.name for e in MlflowStore.open(uri).experiments()] == ["Default"]
