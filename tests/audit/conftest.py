"""Fixtures for audit tests (the tracking store fixtures are shared, in tests/conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_helpers import Repo, init_repo, running_mlflow_server


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    # data/train.csv is committed: good_run's dataset reads it, and versioned data is part of "good".
    return init_repo(tmp_path, {"train.py": "print('train')\n", "pyproject.toml": "[tool.mlrepro]\n", "data/train.csv": "x,y\n1,0\n"})


# --- a team server: `mlflow server` on PostgreSQL with proxied artifacts ----------------------


def _postgres_connect() -> psycopg2.extensions.connection:  # noqa: F821 - imported lazily, annotations are strings
    import psycopg2

    return psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL (user postgres, trust auth), dropped at the end.
    Starts the cluster when it is installed but stopped."""
    import os
    import time
    import uuid

    psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = _postgres_connect()
    except psycopg2.OperationalError:
        versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        if not versions:
            pytest.skip("PostgreSQL is not installed on this machine")
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False, capture_output=True, timeout=60)
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = _postgres_connect()
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    conn.autocommit = True
    name = f"mlrepro_test_{uuid.uuid4().hex[:12]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            # FORCE: the server's pool may still hold connections if it died uncleanly.
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(scope="session")
def mlflow_server(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A team server on PostgreSQL, serving the artifacts it stores. Yields its http:// URI."""
    with running_mlflow_server(postgres_database, tmp_path_factory.mktemp("server"), "--serve-artifacts") as uri:
        yield uri
