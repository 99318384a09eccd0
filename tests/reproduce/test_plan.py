"""make_plan on real git repositories: the three entry-point sources, exact parameter
strings, no shell, the recorded environment and uncommitted changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from audit_helpers import Repo, git, init_repo

from mlrepro.records import RunRecord
from mlrepro.reproduce.plan import NO_THREADS_NOTE, PlanError, make_plan

INJECTION = "; rm -rf ~"

MLPROJECT = """\
name: demo
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      name: string
      epochs: {type: int, default: 3}
    command: "python train.py --alpha {alpha} --name {name} --epochs={epochs}"
"""

# Writes its arguments where the test can read them: what the process really received.
ECHO = "import json, sys\nopen('argv.json', 'w').write(json.dumps(sys.argv[1:]))\n"


def record(tags: dict[str, str], params: dict[str, str] | None = None) -> RunRecord:
    return RunRecord(
        run_id="abc123", experiment_id="7", experiment_name="churn", run_name="r", status="FINISHED",
        start_time=None, end_time=None, params=dict(params or {}), tags=dict(tags),
    )


def at(repo: Repo, **tags: str) -> dict[str, str]:
    return {"mlflow.source.git.commit": git(repo.path, "rev-parse", "HEAD"), **tags}


# --- MLproject -----------------------------------------------------------------------------


def test_mlproject_entry_point_uses_declared_params_as_exact_strings(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": ECHO})
    run = record(
        at(repo, **{"mlflow.project.entryPoint": "main", "mlflow.source.name": f"file://{repo.path}"}),
        {"alpha": ".1", "name": INJECTION, "epochs": "3", "undeclared": "dropped", "seed": "1"},
    )
    plan = make_plan(run, repo.path)
    assert plan.source == "mlproject"
    assert plan.argv == (sys.executable, "train.py", "--alpha", ".1", "--name", INJECTION, "--epochs=3")
    assert "dropped" not in plan.argv and "--undeclared" not in plan.argv
    assert plan.workdir == "."
    assert (plan.run_id, plan.experiment_id) == ("abc123", "7")
    assert plan.patch is None


def test_injection_value_arrives_as_one_argument_and_runs_nothing(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": ECHO})
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep.txt").write_text("still here")
    run = record(at(repo, **{"mlflow.project.entryPoint": "main"}), {"alpha": ".1", "name": INJECTION})
    plan = make_plan(run, repo.path)
    env = {**os.environ, "HOME": str(home), **plan.env}
    subprocess.run(plan.argv, cwd=repo.path / plan.workdir, env=env, check=True, timeout=60)
    received = json.loads((repo.path / "argv.json").read_text())
    assert received == ["--alpha", ".1", "--name", INJECTION, "--epochs=3"]
    assert (home / "keep.txt").read_text() == "still here"


MULTILINE = """\
name: demo
entry_points:
  main:
    parameters:
      name: {type: string, default: ""}
      label: string
      note: string
    command: |
      python train.py \\
        --name {name} \\
        --label {label} --note {note} \\
        --literal 'a\\
      b'
"""


@pytest.mark.parametrize(
    ("logged", "received"),
    [
        ({"name": "''", "label": "'red green'", "note": "'it'\"'\"'s'"}, ["", "red green", "it's"]),
        # Logged unquoted (an older MLflow, or nothing to quote): kept as logged.
        ({"name": "x", "label": INJECTION, "note": "'half"}, ["x", INJECTION, "'half"]),
    ],
)
def test_mlproject_command_is_built_by_mlflow_from_unquoted_values_over_continued_lines(tmp_path: Path, logged: dict[str, str], received: list[str]) -> None:
    repo = init_repo(tmp_path, {"MLproject": MULTILINE, "train.py": ECHO})
    plan = make_plan(record(at(repo, **{"mlflow.project.entryPoint": "main"}), logged), repo.path)
    name, label, note = received
    # A continuation inside single quotes is the shell's literal backslash-newline: kept.
    assert plan.argv == (sys.executable, "train.py", "--name", name, "--label", label, "--note", note, "--literal", "a\\\nb")
    subprocess.run(plan.argv, cwd=repo.path, check=True, timeout=60)
    assert json.loads((repo.path / "argv.json").read_text())[:6] == ["--name", name, "--label", label, "--note", note]


def test_mlproject_is_read_at_the_runs_commit_with_defaults_for_unlogged_params(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": ECHO})
    old = git(repo.path, "rev-parse", "HEAD")
    repo.commit({"MLproject": MLPROJECT.replace("train.py", "train_v2.py")}, "rename script")
    run = record({"mlflow.source.git.commit": old, "mlflow.project.entryPoint": "main"}, {"name": "x"})
    plan = make_plan(run, repo.path)
    assert plan.commit == old
    assert plan.argv == (sys.executable, "train.py", "--alpha", "0.5", "--name", "x", "--epochs=3")


def test_mlproject_in_a_subdirectory_named_by_the_source_name(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"proj/MLproject": MLPROJECT, "proj/train.py": ECHO, "README.md": "x"})
    run = record(
        at(repo, **{"mlflow.project.entryPoint": "main", "mlflow.source.name": f"file://{repo.path}#proj"}),
        {"alpha": "1e-3", "name": "n"},
    )
    plan = make_plan(run, repo.path)
    assert plan.workdir == "proj"
    assert plan.argv[:4] == (sys.executable, "train.py", "--alpha", "1e-3")


def test_mlproject_without_the_entry_point_falls_back_to_the_recorded_command(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"MLproject": MLPROJECT, "train.py": ECHO})
    run = record(at(repo, **{"mlflow.project.entryPoint": "evaluate", "mlrepro.command": '["train.py"]'}))
    plan = make_plan(run, repo.path)
    assert plan.source == "capture"
    assert plan.argv == (sys.executable, "train.py")


# --- capture plugin ------------------------------------------------------------------------


def test_recorded_command_with_real_capture_tags(tmp_path: Path) -> None:
    from mlrepro.capture.collect import collect_tags

    repo = init_repo(tmp_path, {"train.py": ECHO})
    tags = collect_tags(cwd=repo.path, argv=[str(repo.path / "train.py"), "--lr", ".1", "--name", INJECTION])
    plan = make_plan(record(tags), repo.path)
    assert plan.source == "capture"
    assert plan.argv == (sys.executable, "train.py", "--lr", ".1", "--name", INJECTION)
    assert plan.workdir == "."
    assert plan.commit == git(repo.path, "rev-parse", "HEAD")
    assert plan.patch is None


def test_recorded_command_from_a_subdirectory_runs_the_script_relative_to_it(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"src/train.py": ECHO})
    run = record(at(repo, **{"mlrepro.command": '["src/train.py", "--x", "1"]', "mlrepro.git.cwd": "src"}))
    plan = make_plan(run, repo.path)
    assert plan.workdir == "src"
    assert plan.argv == (sys.executable, "train.py", "--x", "1")
    subprocess.run(plan.argv, cwd=repo.path / plan.workdir, check=True, timeout=60)
    assert json.loads((repo.path / "src" / "argv.json").read_text()) == ["--x", "1"]


def test_recorded_non_script_command_keeps_its_arguments_with_this_interpreter(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    run = record(at(repo, **{"mlrepro.command": '["python3", "-m", "trainer", "--lr", ".1"]'}))
    assert make_plan(run, repo.path).argv == (sys.executable, "-m", "trainer", "--lr", ".1")
    run = record(at(repo, **{"mlrepro.command": '["/opt/bin/train-cli", "--lr", ".1"]'}))
    assert make_plan(run, repo.path).argv == ("/opt/bin/train-cli", "--lr", ".1")


def test_a_command_cut_to_fit_is_not_used(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    run = record(at(repo, **{"mlrepro.command": '["train.py", "a", "... 5000 arguments in all"]'}))
    with pytest.raises(PlanError, match="cut to fit"):
        make_plan(run, repo.path)


# --- pyproject config ----------------------------------------------------------------------


CONFIG = """\
[tool.mlrepro.reproduce]
command = "python train.py --lr {params.lr} --name {params.name} --tag 'two words'"
"""


def test_config_template_at_the_runs_commit(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"pyproject.toml": CONFIG, "train.py": ECHO})
    old = git(repo.path, "rev-parse", "HEAD")
    repo.commit({"pyproject.toml": "[project]\nname = 'x'\n"}, "drop the config")
    run = record({"mlflow.source.git.commit": old}, {"lr": ".1", "name": INJECTION, "other": "z"})
    plan = make_plan(run, repo.path)
    assert plan.source == "config"
    assert plan.argv == (sys.executable, "train.py", "--lr", ".1", "--name", INJECTION, "--tag", "two words")
    assert plan.workdir == "."


def test_config_placeholder_without_a_logged_param(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"pyproject.toml": CONFIG, "train.py": ECHO})
    with pytest.raises(PlanError, match=r"\{params.name\}"):
        make_plan(record(at(repo), {"lr": ".1"}), repo.path)


def test_capture_comes_before_config(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"pyproject.toml": CONFIG, "train.py": ECHO})
    plan = make_plan(record(at(repo, **{"mlrepro.command": '["train.py"]'}), {"lr": "1", "name": "n"}), repo.path)
    assert plan.source == "capture"


# --- unusable input ------------------------------------------------------------------------


def test_nothing_to_start_names_every_missing_source(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    with pytest.raises(PlanError) as info:
        make_plan(record(at(repo)), repo.path)
    message = str(info.value)
    assert "no MLproject entry point tag" in message
    assert "no mlrepro.command tag" in message
    assert "no [tool.mlrepro.reproduce] command" in message


def test_no_commit_or_unknown_commit(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    with pytest.raises(PlanError, match="no git commit recorded"):
        make_plan(record({"mlrepro.command": '["train.py"]'}), repo.path)
    with pytest.raises(PlanError, match="not in the repository"):
        make_plan(record({"mlflow.source.git.commit": "1" * 40, "mlrepro.command": '["train.py"]'}), repo.path)
    with pytest.raises(PlanError, match="not a commit hash"):
        make_plan(record({"mlflow.source.git.commit": "--all", "mlrepro.command": '["train.py"]'}), repo.path)


def test_the_commit_is_read_as_the_audit_reads_it(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    head = git(repo.path, "rev-parse", "HEAD")
    # A branch name is MLR502 in the audit: checking out whatever `main` is today is not the run's code.
    with pytest.raises(PlanError, match="'main' is not a commit hash"):
        make_plan(record({"mlflow.source.git.commit": "main", "mlrepro.command": '["train.py"]'}), repo.path)
    # A blank capture tag records nothing (the audit does not call it MLR502): MLflow's tag is read.
    plan = make_plan(record({"mlrepro.git.commit": " ", "mlflow.source.git.commit": head, "mlrepro.command": '["train.py"]'}), repo.path)
    assert plan.commit == head


# --- environment ---------------------------------------------------------------------------


def test_recorded_environment(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    tags = at(repo, **{
        "mlrepro.command": '["train.py"]',
        "mlrepro.pythonhashseed": "0",
        "mlrepro.threads.OMP_NUM_THREADS": "4",
        "mlrepro.threads.OPENBLAS_NUM_THREADS": "unset",
        "mlrepro.threads.MKL_NUM_THREADS": "1",
        "mlrepro.seed": "42",
    })
    plan = make_plan(record(tags), repo.path)
    assert plan.env == {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "1", "MLREPRO_SEED": "42"}
    assert NO_THREADS_NOTE not in plan.notes


def test_random_hash_seed_and_unknown_threads_are_noted(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    plan = make_plan(record(at(repo, **{"mlrepro.command": '["train.py"]', "mlrepro.pythonhashseed": "random"})), repo.path)
    assert plan.env == {}
    assert NO_THREADS_NOTE in plan.notes
    assert any("PYTHONHASHSEED" in note and "random" in note for note in plan.notes)


# --- uncommitted changes -------------------------------------------------------------------


def test_recorded_diff_becomes_the_patch(tmp_path: Path) -> None:
    from mlrepro.capture.collect import collect_tags, uncommitted_patch

    repo = init_repo(tmp_path, {"train.py": ECHO})
    (repo.path / "train.py").write_text(ECHO + "# tuned\n")
    (repo.path / "extra.py").write_text("X = 1\n")
    tags = collect_tags(cwd=repo.path, argv=["train.py"])
    plan = make_plan(record(tags), repo.path)
    assert plan.patch == uncommitted_patch(repo.path)
    assert plan.patch is not None and b"extra.py" in plan.patch
    assert plan.commit == git(repo.path, "rev-parse", "HEAD")
    assert any("uncommitted" in note for note in plan.notes)


def test_snapshot_commit_replaces_the_patch(tmp_path: Path) -> None:
    from mlrepro.capture.collect import CaptureSettings, collect_tags

    repo = init_repo(tmp_path, {"train.py": ECHO})
    (repo.path / "train.py").write_text(ECHO + "# tuned\n")
    tags = collect_tags(cwd=repo.path, argv=["train.py"], settings=CaptureSettings(max_diff_tags=0))
    ref = tags["mlrepro.git.stash_ref"]
    plan = make_plan(record(tags), repo.path)
    assert plan.patch is None
    assert plan.commit == git(repo.path, "rev-parse", ref)
    assert plan.commit != git(repo.path, "rev-parse", "HEAD")
    assert any(ref in note for note in plan.notes)


def test_damaged_diff_is_a_plan_error(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"train.py": ECHO})
    tags = at(repo, **{"mlrepro.command": '["train.py"]', "mlrepro.git.diff_parts": "2", "mlrepro.git.diff.0": "eJw="})
    with pytest.raises(PlanError, match="damaged or incomplete"):
        make_plan(record(tags), repo.path)
