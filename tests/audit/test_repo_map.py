"""``[tool.mlrepro.repos]``: one store, several repositories, each run matched to a local clone
through the repository URL it recorded (#13). Real SQLite stores, real git repositories, real
training and re-execution; the CLI in-process, as users call it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import Repo, Store, codes_by_run, git, init_repo, register
from training_helpers import latest_run_id, training_env

from mlrepro.config import ConfigError, resolve_settings

TRAIN = """\
import mlflow

with mlflow.start_run():
    mlflow.log_param("seed", 1)
    mlflow.log_metric("loss", {loss})
"""
URL = "mlflow.source.git.repoURL"
COMMIT = "mlflow.source.git.commit"
LOST = "1" * 40  # a commit no repository holds: MLR502 says so, naming the repository it looked in


def cli(cwd: Path, *args: str) -> tuple[int, str, str]:
    from mlrepro.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(previous)
    return code, out.getvalue(), err.getvalue()


def audit(store: Store, cwd: Path, *args: str) -> tuple[int, str, str]:
    return cli(cwd, "audit", "--tracking-uri", store.uri, "--quiet", *args)


def findings(store: Store, cwd: Path, *args: str) -> list[dict[str, Any]]:
    code, out, err = audit(store, cwd, "--output-format", "json", *args)
    assert code in (0, 1), err
    return json.loads(out)


def project(tmp_path: Path, name: str, loss: str = "0.5", pyproject: str | None = None) -> Repo:
    files = {"train.py": TRAIN.format(loss=loss), ".gitignore": "mlruns/\nmlartifacts/\n"}
    if pyproject is not None:
        files["pyproject.toml"] = pyproject
    return init_repo(tmp_path / name, files)


def train(store: Store, repo: Repo) -> str:
    done = subprocess.run([sys.executable, "train.py"], cwd=repo.path, env=training_env(store), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return latest_run_id(store)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- the configuration ---------------------------------------------------------------------------


def test_a_mapping_resolves_relative_paths_against_the_pyproject(tmp_path: Path) -> None:
    from mlrepro.config import repo_paths

    write(tmp_path / "ops" / "pyproject.toml", """
[tool.mlrepro.repos]
"git@github.com:acme/churn.git" = "../churn"
"https://github.com/acme/fraud" = "/srv/fraud"
""")
    (tmp_path / "ops" / "nightly").mkdir()
    # Read from a subdirectory: the paths are the file's, not the current directory's.
    settings = resolve_settings(tmp_path / "ops" / "nightly")
    assert dict(repo_paths(settings)) == {
        "git@github.com:acme/churn.git": (tmp_path / "churn").resolve(),
        "https://github.com/acme/fraud": Path("/srv/fraud").resolve(),
    }
    assert repo_paths(resolve_settings(tmp_path / "ops", isolated=True)) == ()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('repos = "../churn"', "repos must be a table of repository URL"),
        ('[tool.mlrepro.repos]\n"https://github.com/acme/churn" = 3', "not 'https://github.com/acme/churn' = 3"),
        ('[tool.mlrepro.repos]\n"https://github.com/acme/churn" = ""', "= ''"),
        ('[tool.mlrepro.repos]\n"churn" = "../churn"', "not the URL churn"),
        ('[tool.mlrepro.repos]\n"https://github.com" = "../churn"', "not the URL 'https://github.com'"),
        (
            '[tool.mlrepro.repos]\n"https://github.com/acme/churn.git" = "../a"\n"git@github.com:acme/churn" = "../b"',
            "name the same repository",
        ),
    ],
)
def test_an_unusable_mapping_is_a_config_error(tmp_path: Path, body: str, detail: str) -> None:
    config = write(tmp_path / "pyproject.toml", f"[tool.mlrepro]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        resolve_settings(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{config}: [tool.mlrepro] repos must be "), message
    assert detail in message and "\n" not in message, message


def test_a_bad_mapping_exits_2_with_the_message(tmp_path: Path, store: Store) -> None:
    write(tmp_path / "pyproject.toml", '[tool.mlrepro.repos]\n"https://github.com/acme/churn" = 3\n')
    code, out, err = audit(store, tmp_path)
    assert (code, out) == (2, ""), err
    assert err.startswith("mlrepro: error: ") and "[tool.mlrepro] repos must be" in err and "Traceback" not in err, err
    # A mapped path that is no clone: the same, naming the entry (and never for lint).
    write(tmp_path / "pyproject.toml", '[tool.mlrepro.repos]\n"https://github.com/acme/churn" = "gone"\n')
    code, out, err = audit(store, tmp_path)
    assert (code, out) == (2, ""), err
    assert f"[tool.mlrepro.repos] 'https://github.com/acme/churn' = {tmp_path.resolve() / 'gone'}: not a git repository" in err, err
    write(tmp_path / "train.py", "print(1)\n")
    assert cli(tmp_path, "lint", "train.py")[0] == 0


# --- audit -----------------------------------------------------------------------------------------


def test_runs_of_every_mapped_repository_are_checked_against_their_clone(tmp_path: Path, store: Store) -> None:
    """From a directory that is no repository, both repositories' runs are matched through the
    mapping, whatever spelling of the URL the runs recorded and the clones' own remotes."""
    churn, fraud = project(tmp_path, "churn"), project(tmp_path, "fraud")
    ops = tmp_path / "ops"
    write(ops / "pyproject.toml", """
[tool.mlrepro.repos]
"git@github.com:acme/churn" = "../churn/project"
"https://github.com/acme/fraud.git" = "../fraud/project"
""")
    churn_good = store.good_run(churn, tags={URL: "https://github.com/acme/churn.git"})
    churn_lost = store.good_run(churn, tags={URL: "ssh://git@github.com/acme/churn", COMMIT: LOST})
    fraud_good = store.good_run(fraud, tags={URL: "git@github.com:acme/fraud.git"})
    fraud_lost = store.good_run(fraud, tags={URL: "https://GitHub.com/acme/fraud", COMMIT: LOST})

    found = findings(store, ops)
    by_run = codes_by_run(found)
    assert "MLR502" not in by_run.get(churn_good, set()) | by_run.get(fraud_good, set()), by_run
    lost = {f["run_id"]: f["message"] for f in found if f["code"] == "MLR502"}
    assert set(lost) == {churn_lost, fraud_lost}, lost
    assert str(churn.path.resolve()) in lost[churn_lost] and str(fraud.path.resolve()) in lost[fraud_lost], lost
    code, text, _ = audit(store, ops)
    assert "not checked" not in text, text


def test_the_command_line_overrides_and_adds_to_the_mapping(tmp_path: Path, store: Store) -> None:
    """Inside churn, whose pyproject maps fraud's URL to a clone that is not there: the clone
    given with --repo serves that URL instead; a third repository is added with --repo."""
    churn = project(tmp_path, "churn", pyproject='[tool.mlrepro.repos]\n"https://github.com/acme/fraud" = "../../nowhere"\n')
    fraud, ads = project(tmp_path, "fraud"), project(tmp_path, "ads")
    git(fraud.path, "remote", "add", "upstream", "https://github.com/acme/fraud.git")
    fraud_lost = store.good_run(fraud, tags={URL: "git@github.com:acme/fraud.git", COMMIT: LOST})
    ads_lost = store.good_run(ads, tags={URL: str(ads.origin), COMMIT: LOST})

    code, _, err = audit(store, churn.path)
    assert code == 2 and "nowhere" in err and "not a git repository" in err, err
    found = findings(store, churn.path, "--repo", str(churn.path), "--repo", str(fraud.path), "--repo", str(ads.path))
    lost = {f["run_id"]: f["message"] for f in found if f["code"] == "MLR502"}
    assert set(lost) == {fraud_lost, ads_lost}, lost
    assert str(fraud.path.resolve()) in lost[fraud_lost] and str(ads.path.resolve()) in lost[ads_lost], lost


def test_audit_reproduce_reexecutes_a_mapped_repositorys_run_from_its_clone(tmp_path: Path, store: Store) -> None:
    churn, fraud = project(tmp_path, "churn"), project(tmp_path, "fraud", loss="0.25")
    ops = tmp_path / "ops"
    write(ops / "pyproject.toml", f'[tool.mlrepro.repos]\n"{churn.origin}" = "../churn/project"\n"{fraud.origin}" = "../fraud/project"\n')
    train(store, churn)
    served = train(store, fraud)
    register(store.client, "fraud-model", served, stage="Production")

    code, out, err = audit(store, ops, "--output-format", "json", "--reproduce", "--select", "MLR5,MLR9")
    assert code in (0, 1), err
    assert not {"MLR502", "MLR901", "MLR902"} & codes_by_run(json.loads(out)).get(served, set()), out
    experiments = [e.experiment_id for e in store.client.search_experiments()]
    [again] = store.client.search_runs(experiments, filter_string=f"tags.`mlrepro.reproduces` = '{served}'")
    assert again.info.status == "FINISHED" and again.data.metrics["loss"] == 0.25, again


def test_a_garbled_recorded_url_does_not_end_the_audit(tmp_path: Path, store: Store) -> None:
    churn = project(tmp_path, "churn")
    run_id = store.good_run(churn, tags={URL: "https://[oops/acme/churn"})
    code, out, err = audit(store, churn.path, "--output-format", "json")
    assert code in (0, 1) and "error" not in err, err
    assert "MLR502" not in codes_by_run(json.loads(out)).get(run_id, set())


# --- what was not checked, in every format ----------------------------------------------------


@pytest.fixture
def foreign(tmp_path: Path, store: Store) -> tuple[Repo, Repo, str]:
    """(ours, theirs, the id of a run of theirs) in one store; audited from ours."""
    ours, theirs = project(tmp_path, "ours"), project(tmp_path, "theirs", loss="0.25")
    store.good_run(ours, tags={URL: str(ours.origin)})
    return ours, theirs, store.good_run(theirs, tags={URL: str(theirs.origin)})


def test_sarif_github_and_junit_carry_the_not_checked_note(store: Store, foreign: tuple[Repo, Repo, str]) -> None:
    ours, theirs, _ = foreign
    _, out, _ = audit(store, ours.path, "--output-format", "sarif")
    [invocation] = json.loads(out)["runs"][0]["invocations"]
    [notice] = invocation["toolExecutionNotifications"]
    assert notice["level"] == "note" and str(theirs.origin) in notice["message"]["text"], invocation
    assert "not checked against this repository" in notice["message"]["text"]

    _, out, _ = audit(store, ours.path, "--output-format", "github")
    notices = [line for line in out.splitlines() if line.startswith("::notice ::")]
    assert len(notices) == 1 and "1 run of" in notices[0] and str(theirs.origin) in notices[0], out

    _, out, _ = audit(store, ours.path, "--output-format", "junit")
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None
    system_out = suite.find("system-out")
    assert system_out is not None and str(theirs.origin) in (system_out.text or ""), out


def test_json_stays_an_array_and_the_note_goes_to_stderr(store: Store, foreign: tuple[Repo, Repo, str]) -> None:
    ours, theirs, _ = foreign
    _, out, err = audit(store, ours.path, "--output-format", "json")
    assert isinstance(json.loads(out), list)
    [line] = [line for line in err.splitlines() if line.startswith("mlrepro: info: ")]
    assert str(theirs.origin) in line and "not checked" in line, err


# --- reproduce RUN_ID --------------------------------------------------------------------------


def test_reproduce_reexecutes_a_mapped_repositorys_run_from_outside_it(tmp_path: Path, store: Store) -> None:
    theirs = project(tmp_path, "theirs", loss="0.25")
    run_id = train(store, theirs)
    # From another repository, whose pyproject maps theirs' URL (as the run recorded it) to its clone.
    ours = project(tmp_path, "ours", pyproject=f'[tool.mlrepro.repos]\n"{theirs.origin}" = "../../theirs/project"\n')
    code, out, err = cli(ours.path, "reproduce", run_id, "--tracking-uri", store.uri, "--output-format", "json")
    result = json.loads(out) if out.strip() else {}
    assert (code, result.get("verdict")) == (0, "identical"), (result, err)
    assert result["code"]["commit"] == git(theirs.path, "rev-parse", "HEAD")
    # The same from a directory that is no repository at all.
    ops = tmp_path / "ops"
    write(ops / "pyproject.toml", f'[tool.mlrepro.repos]\n"{theirs.origin}" = "../theirs/project"\n')
    code, out, err = cli(ops, "reproduce", run_id, "--tracking-uri", store.uri, "--output-format", "json")
    assert (code, json.loads(out)["verdict"]) == (0, "identical"), err
