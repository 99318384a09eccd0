"""Who may run code: a reproduction executes the repository's own code at the run's commit, not
what a tag says. Real runs in a real SQLite store, real git repositories, the real CLI in a fresh
process; the commands the tags name would leave a file behind if they ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_helpers import Repo, Store, audit_json, codes_by_run, findings_of, git, init_repo
from training_helpers import TRAIN, reproduce_json, run_training

# Leaves a marker outside the worktree (which is removed afterwards) when it runs.
MARK = "import pathlib, sys\npathlib.Path(sys.argv[1]).write_text('ran')\n"


def project(tmp_path: Path) -> Repo:
    return init_repo(tmp_path, {"train.py": TRAIN.format(seed="7", after="pass"), ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})


reproduce = reproduce_json


def tagged_run(store: Store, repo: Repo, command: list[str], **tags: str) -> str:
    """A run whose tags someone wrote by hand: the repository's HEAD and this command."""
    return store.run(
        name="tampered", metrics={"accuracy": 0.9},
        tags={"mlrepro.git.commit": git(repo.path, "rev-parse", "HEAD"), "mlrepro.command": json.dumps(command), **tags},
    )


def reproductions_of(store: Store, run_id: str) -> list:  # type: ignore[type-arg]
    experiments = [e.experiment_id for e in store.client.search_experiments()]
    return store.client.search_runs(experiments, filter_string=f"tags.`mlrepro.reproduces` = '{run_id}'")


def worktrees(repo: Repo) -> list[str]:
    return [line for line in git(repo.path, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def test_a_shell_command_in_the_tag_runs_only_with_allow_command(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    pwned = tmp_path / "PWNED"
    run_id = tagged_run(store, repo, ["/bin/sh", "-c", f"touch {pwned}"])

    code, result, _ = reproduce(store, repo, run_id)
    assert (code, result["verdict"]) == (1, "failed")
    assert not pwned.exists()
    assert "--allow-command" in result["notes"][0] and "/bin/sh" in result["notes"][0], result["notes"]
    assert result["reproduction_run_ids"] == [] and reproductions_of(store, run_id) == []
    assert len(worktrees(repo)) == 1

    code, result, stderr = reproduce(store, repo, run_id, "--allow-command")
    assert pwned.exists()
    assert result["options_used"] == ["--allow-command"]
    assert result["notes"][0].startswith("--allow-command: ")
    assert "--allow-command given" in stderr
    assert code == 1  # it ran, but logged no metrics: not a reproduction either way


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
def test_a_script_outside_the_worktree_is_refused(tmp_path: Path, store: Store, where: str) -> None:
    outside = tmp_path / "x.py"
    outside.write_text(MARK)
    marker = tmp_path / "RAN"
    files = {"train.py": TRAIN.format(seed="7", after="pass")}
    repo = init_repo(tmp_path, files)
    if where == "symlink":  # committed in the repository, pointing out of it
        (repo.path / "link.py").symlink_to(outside)
        repo.commit({}, "a link")
    script = {"parent": "../x.py", "absolute": str(outside), "symlink": "link.py"}[where]
    run_id = tagged_run(store, repo, [script, str(marker)])

    code, result, _ = reproduce(store, repo, run_id)
    assert (code, result["verdict"]) == (1, "failed")
    assert not marker.exists()
    assert "--allow-command" in result["notes"][0] and script in result["notes"][0], result["notes"]
    assert reproductions_of(store, run_id) == []


def test_a_script_and_a_module_of_the_repository_run_without_options(tmp_path: Path, store: Store) -> None:
    marker = tmp_path / "RAN"
    repo = init_repo(tmp_path, {"tools/mark.py": MARK, "pkg/__init__.py": "", "pkg/mark.py": MARK})
    for command in (["tools/mark.py", str(marker)], ["python3.11", "-m", "pkg.mark", str(marker)]):
        run_id = tagged_run(store, repo, command)
        code, result, _ = reproduce(store, repo, run_id)
        assert marker.read_text() == "ran", result
        assert result["options_used"] == [] and not any("--allow-command" in n for n in result["notes"])
        marker.unlink()
    run_id = tagged_run(store, repo, ["python", "-m", "json.tool", str(marker)])  # installed, not the repository's
    code, result, _ = reproduce(store, repo, run_id)
    assert (code, result["verdict"]) == (1, "failed") and "--allow-command" in result["notes"][0]


def test_a_captured_diff_is_applied_only_with_apply_diff(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    (repo.path / "train.py").write_text(TRAIN.format(seed="11", after="pass"))  # trained from a dirty tree
    run_id = run_training(store, repo)
    (repo.path / "train.py").write_text(TRAIN.format(seed="7", after="pass"))

    code, result, _ = reproduce(store, repo, run_id)
    assert (code, result["verdict"]) == (1, "failed")
    assert "--apply-diff" in result["notes"][0], result["notes"]
    assert reproductions_of(store, run_id) == []

    code, result, stderr = reproduce(store, repo, run_id, "--apply-diff")
    assert (code, result["verdict"]) == (0, "identical"), result
    assert result["code"]["patch_applied"] is True and result["options_used"] == ["--apply-diff"]
    assert "--apply-diff given" in stderr
    assert len(worktrees(repo)) == 1


def test_a_command_that_cannot_start_ends_its_run_failed(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    run_id = tagged_run(store, repo, [str(tmp_path / "no-such-trainer"), "--lr", "1"])
    code, _, stderr = reproduce(store, repo, run_id, "--allow-command")
    assert code == 2
    [reproduction] = reproductions_of(store, run_id)
    assert reproduction.info.status == "FAILED"
    assert "cannot be started" in reproduction.data.tags["mlrepro.reproduction.cause"]
    assert reproduction.info.run_id in stderr and run_id in stderr, stderr
    assert len(worktrees(repo)) == 1


def test_audit_reproduce_refuses_a_tag_command_with_the_option_named(tmp_path: Path, store: Store) -> None:
    repo = project(tmp_path)
    pwned = tmp_path / "PWNED"
    run_id = tagged_run(store, repo, ["/bin/sh", "-c", f"touch {pwned}"])
    code, findings = audit_json(store, repo.path, "--reproduce", "--select", "MLR901,MLR902,MLR701")
    assert code == 1 and codes_by_run(findings)[run_id] >= {"MLR902"}
    [failed] = findings_of(findings, "MLR902")
    assert failed["message"].startswith("could not be re-executed at its commit: the recorded command (/bin/sh -c "), failed["message"]
    assert failed["message"].endswith("; pass --allow-command to run it")
    assert not pwned.exists()
    code, findings = audit_json(store, repo.path, "--reproduce", "--allow-command", "--select", "MLR901,MLR902,MLR701")
    assert pwned.exists()


def test_the_options_need_reproduce(tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    repo = project(tmp_path)
    code, _ = audit_json(store, repo.path, "--apply-diff")
    assert code == 2 and "--apply-diff needs --reproduce" in capsys.readouterr().err
