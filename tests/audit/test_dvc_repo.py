"""The DVC adapter reads committed DVC metadata (``*.dvc``, ``dvc.lock``) at any commit, from
a real DVC project built with the DVC CLI."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit_helpers import Repo, dvc, git
from mlrepro.sources.dvc_repo import DvcRepo, DvcRepoError
from mlrepro.sources.git_repo import GitRepo

WRITE = f"{shlex.quote(sys.executable)} -c"


@dataclass
class Project:
    path: Path
    first: str
    second: str


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    path = tmp_path_factory.mktemp("dvc") / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    repo = Repo(path, path)
    dvc(path, "init", "--quiet")
    (path / "data" / "images").mkdir(parents=True)
    (path / "data" / "train.csv").write_text("x,y\n1,0\n")
    (path / "data" / "images" / "cat.png").write_bytes(b"\x89PNG fake")
    (path / "dvc.yaml").write_text(
        "stages:\n"
        "  shards:\n"
        "    foreach: [a, b]\n"
        "    do:\n"
        f"      cmd: {WRITE} \"open('shard_${{item}}.txt', 'w').write('${{item}}')\"\n"
        "      outs:\n"
        "      - shard_${item}.txt\n"
    )
    # A pipeline in a subdirectory that runs from the root: its lock paths are relative to wdir.
    (path / "pipelines").mkdir()
    (path / "pipelines" / "dvc.yaml").write_text(
        "stages:\n"
        "  prepare:\n"
        "    wdir: ..\n"
        f"    cmd: {WRITE} \"open('data/prepared.csv', 'w').write(open('data/train.csv').read().upper())\"\n"
        "    deps:\n"
        "    - data/train.csv\n"
        "    outs:\n"
        "    - data/prepared.csv\n"
    )
    dvc(path, "add", "--quiet", "data/train.csv", "data/images")
    dvc(path, "repro", "--quiet", "--all-pipelines")
    # Hand-written: the schema-1 lock layout (stages at the top level) and a broken .dvc file.
    (path / "legacy").mkdir()
    (path / "legacy" / "dvc.lock").write_text("old:\n  cmd: make\n  outs:\n  - path: model.pkl\n    md5: " + "ab" * 16 + "\n")
    (path / "broken.dvc").write_text("outs: [md5: {\n")
    first = repo.commit({}, "data", push=False)
    (path / "broken.dvc").unlink()  # DVC itself refuses to work with it around
    (path / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n")
    dvc(path, "add", "--quiet", "data/train.csv")
    second = repo.commit({}, "more data", push=False)
    (path / "data" / "train.csv").write_text("x,y\nuncommitted\n")
    dvc(path, "add", "--quiet", "data/train.csv")  # never committed: no commit describes it
    return Project(path, first, second)


def test_outputs_at_a_commit(project: Project) -> None:
    outputs = DvcRepo(GitRepo.open(project.path)).outputs_at(project.first)
    assert outputs["data/train.csv"] == md5(b"x,y\n1,0\n")
    assert outputs["data/images"].endswith(".dir")
    assert outputs["shard_a.txt"] == md5(b"a") and outputs["shard_b.txt"] == md5(b"b")
    assert outputs["data/prepared.csv"] == md5(b"X,Y\n1,0\n")
    assert outputs["legacy/model.pkl"] == "ab" * 16
    assert set(outputs) == {"data/train.csv", "data/images", "shard_a.txt", "shard_b.txt", "data/prepared.csv", "legacy/model.pkl"}


def test_each_commit_is_read_as_committed(project: Project) -> None:
    data = DvcRepo(GitRepo.open(project.path))
    assert data.outputs_at(project.second)["data/train.csv"] == md5(b"x,y\n1,0\n2,1\n")
    assert data.outputs_at("HEAD")["data/train.csv"] == md5(b"x,y\n1,0\n2,1\n")  # not the working tree
    assert data.outputs_at(project.first[:8]) == data.outputs_at(project.first)
    assert data.outputs_at("f" * 40) == {}


def test_returned_mapping_is_a_copy(project: Project) -> None:
    data = DvcRepo(GitRepo.open(project.path))
    data.outputs_at(project.first).clear()
    assert data.outputs_at(project.first)


def test_reading_needs_no_dvc_import(project: Project) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from mlrepro.sources.git_repo import GitRepo\n"
        "from mlrepro.sources.dvc_repo import DvcRepo\n"
        f"assert DvcRepo(GitRepo.open(Path({str(project.path)!r}))).outputs_at('HEAD')\n"
        "assert 'dvc' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_repository_without_dvc_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(DvcRepoError, match="not a DVC repository"):
        DvcRepo(GitRepo.open(tmp_path))
