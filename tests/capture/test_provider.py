"""The capture plugin as installed: real training scripts started with ``sys.executable``
call ``mlflow.start_run()`` and the entry point adds the ``mlrepro.*`` tags; real git and DVC
repositories in tmp; a real SQLite store. Finer points of ``collect_tags`` run in-process."""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit_helpers import Repo, Store, audit_json, dvc, findings_of, git, raw_git
from mlrepro.capture import collect
from mlrepro.capture.collect import TAG_VALUE_LIMIT, collect_tags, decode_diff
from mlrepro.capture.provider import MlreproRunContext
from mlrepro.sources.git_capture import find_worktree

DIFF_PARTS = ("mlrepro.git.diff.", "mlrepro.git.diff_parts")


def status_snapshot(repo: Path) -> tuple[str, str]:
    """What a user sees of their repository: status and the staged contents of the index."""
    return git(repo, "status", "--porcelain=v1", "--untracked-files=all"), git(repo, "ls-files", "--stage")


def noise(size: int, seed: int = 0) -> str:
    """Incompressible text: its compressed diff is about as long as itself."""
    rng = random.Random(seed)
    data = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(size))).decode()
    return "\n".join(data[i:i + 76] for i in range(0, len(data), 76)) + "\n"


def diff_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.startswith(DIFF_PARTS)}


@pytest.fixture
def fluent(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """MLflow's fluent API pointed at the store, in this process; its global state put back."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous = tracking_utils._tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    mlflow.set_tracking_uri(store.uri)
    try:
        yield mlflow
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        tracking_utils._tracking_uri = previous


# --- MLflow's side: the limits and the registration ---------------------------------------


def test_tag_limits_are_the_installed_mlflow_limits() -> None:
    from mlflow.utils import validation

    assert collect.TAG_VALUE_LIMIT == validation.MAX_TAG_VAL_LENGTH
    assert collect.TAG_KEY_LIMIT == validation.MAX_ENTITY_KEY_LENGTH


def test_the_installed_entry_point_registers_the_provider() -> None:
    from importlib.metadata import entry_points

    from mlflow.tracking.context.registry import _run_context_provider_registry

    (entry,) = [e for e in entry_points(group="mlflow.run_context_provider") if e.name == "mlrepro"]
    assert entry.value == "mlrepro.capture.provider:MlreproRunContext"
    assert any(isinstance(provider, MlreproRunContext) for provider in _run_context_provider_registry)


def test_the_provider_registers_whichever_module_is_imported_first() -> None:
    # MLflow's registry loads the entry point while `import mlflow` runs: importing the
    # provider first must not hand it a half-initialised module.
    probe = (
        "import mlrepro.capture.provider as provider, mlflow\n"
        "from mlflow.tracking.context.registry import _run_context_provider_registry as registry\n"
        "print(sum(isinstance(p, provider.MlreproRunContext) for p in registry))\n"
    )
    import sys

    result = subprocess.run([sys.executable, "-W", "error", "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "1", result.stdout + result.stderr


def test_the_seed_variable_is_the_one_seed_everything_sets() -> None:
    from mlrepro.capture import seeding

    assert collect.SEED_ENV == seeding.SEED_ENV


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("1", True), ("0", False), ("false", False), ("OFF", False)])
def test_capture_switch(value: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("MLREPRO_CAPTURE", raising=False)
    else:
        monkeypatch.setenv("MLREPRO_CAPTURE", value)
    assert MlreproRunContext().in_context() is expected


# --- runs started by a real training script -------------------------------------------------


def test_clean_tree_records_state_command_environment_and_seed(store: Store, repo: Repo, run_training: Any) -> None:
    from mlrepro.capture.collect import pip_freeze

    head = git(repo.path, "rev-parse", "HEAD")
    env = {"OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "123", "MLREPRO_SEED": "7"}
    run = run_training(store, repo.path, "train.py", "--epochs", "2", env=env)
    tags = run.tags
    assert run.status == "FINISHED"
    assert tags["mlrepro.git.dirty"] == "false"
    assert tags["mlrepro.git.branch"] == "main"
    assert tags["mlrepro.git.commit"] == head == tags["mlflow.source.git.commit"]
    assert tags["mlrepro.git.remote_contains_commit"] == "true"
    assert tags["mlrepro.git.cwd"] == "."
    assert not diff_tags(tags) and "mlrepro.git.untracked" not in tags and "mlrepro.git.stash_ref" not in tags
    assert json.loads(tags["mlrepro.command"]) == ["train.py", "--epochs", "2"]
    assert tags["mlrepro.cwd"] == str(repo.path.resolve())
    assert tags["mlrepro.python"] == f"{platform.python_implementation()} {platform.python_version()}"
    assert tags["mlrepro.platform"] == platform.platform()
    assert tags["mlrepro.cpu"].strip()
    assert tags["mlrepro.pip_freeze_sha256"] == hashlib.sha256(pip_freeze().encode()).hexdigest()
    assert "mlflow==" in pip_freeze() and "numpy==" in pip_freeze()
    assert tags["mlrepro.pythonhashseed"] == "123"
    assert tags["mlrepro.threads.OMP_NUM_THREADS"] == "1"
    assert tags["mlrepro.threads.OPENBLAS_NUM_THREADS"] == tags["mlrepro.threads.MKL_NUM_THREADS"] == "unset"
    # numpy's BLAS was loaded before the run: its thread count follows OMP_NUM_THREADS (else one per CPU).
    pools = json.loads(tags["mlrepro.threadpool"])
    assert pools and all(set(pool) == {"internal_api", "num_threads", "version"} for pool in pools)
    assert any(pool["num_threads"] == 1 for pool in pools), pools
    assert tags["mlrepro.seed"] == "7"
    assert tags["mlrepro.run_by"].strip()
    import mlrepro

    assert tags["mlrepro.capture_version"] == mlrepro.__version__
    assert "mlrepro.capture_error" not in tags


def test_modified_tracked_files_are_stored_as_a_patch_that_restores_the_tree(
    store: Store, repo: Repo, run_training: Any, tmp_path: Path
) -> None:
    (repo.path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (repo.path / "old.txt").write_text("to be deleted\n")
    commit = repo.commit({}, "binary and soon-deleted files")
    with (repo.path / "train.py").open("a") as handle:
        handle.write("# lr 0.3 was better\n")
    (repo.path / "weights.bin").write_bytes(bytes(reversed(range(256))) * 4)
    (repo.path / "old.txt").unlink()

    run = run_training(store, repo.path, "train.py")
    tags = run.tags
    assert tags["mlrepro.git.dirty"] == "true"
    assert json.loads(tags["mlrepro.git.untracked"]) == []
    patch = decode_diff(tags)
    assert patch == raw_git(repo.path, "diff", "HEAD", "--binary")
    assert tags["mlrepro.git.diff_sha256"] == hashlib.sha256(patch).hexdigest()
    assert tags["mlrepro.git.diff_bytes"] == str(len(patch))
    assert int(tags["mlrepro.git.diff_parts"]) == 1 and "mlrepro.git.stash_ref" not in tags

    # What reproduce does: the commit plus the patch gives back the tree that ran.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.origin), str(clone)], check=True)
    git(clone, "checkout", "-q", commit)
    raw_git(clone, "apply", "--binary", "-", input=patch)
    for name in ("train.py", "weights.bin"):
        assert (clone / name).read_bytes() == (repo.path / name).read_bytes()
    assert not (clone / "old.txt").exists()


def test_audit_reports_the_dirty_run_with_its_diff_captured(store: Store, repo: Repo, run_training: Any) -> None:
    with (repo.path / "train.py").open("a") as handle:
        handle.write("# tweak\n")
    run = run_training(store, repo.path, "train.py")
    code, findings = audit_json(store, repo.path, "--select", "MLR504")
    (finding,) = findings_of(findings, "MLR504")
    assert code == 1 and finding["run_id"] == run.run_id
    head = git(repo.path, "rev-parse", "HEAD")
    assert finding["message"] == (
        f"the working tree was dirty: this run ran uncommitted changes on top of commit {head[:12]}; "
        "the diff was captured (tags mlrepro.git.diff.0...), so the run reproduces only with that diff applied to the commit"
    )


def applied_to_a_clone(repo: Repo, patch: bytes | None, tmp_name: str = "clone") -> Path:
    """A fresh clone at HEAD with ``patch`` applied by `git apply`: what reproduce will do."""
    assert patch
    clone = repo.path.parent / tmp_name
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", "--binary", "-"], input=patch, check=True)
    return clone


def test_untracked_files_are_listed_and_ignored_files_are_not(store: Store, repo: Repo, run_training: Any) -> None:
    (repo.path / "new_features.py").write_text("X = 1\n")
    (repo.path / "scratch").mkdir()
    (repo.path / "scratch" / "a.py").write_text("")
    (repo.path / "run.log").write_text("ignored by .gitignore\n")
    run = run_training(store, repo.path, "train.py")
    assert run.tags["mlrepro.git.dirty"] == "true"
    assert json.loads(run.tags["mlrepro.git.untracked"]) == ["new_features.py", "scratch/"]
    # A new script nobody added yet is the commonest dirty tree: its contents are in the patch.
    restored = applied_to_a_clone(repo, decode_diff(run.tags))
    assert (restored / "new_features.py").read_text() == "X = 1\n"
    assert (restored / "scratch" / "a.py").read_text() == ""
    assert not (restored / "run.log").exists()


def test_a_diff_over_the_cap_is_kept_as_a_commit_without_touching_the_index_or_the_tree(
    store: Store, repo: Repo, run_training: Any
) -> None:
    repo.commit({"pyproject.toml": "[tool.mlrepro.capture]\nmax-diff-tags = 1\n", "big.txt": "small\n"}, "cap the diff tags")
    head = git(repo.path, "rev-parse", "HEAD")
    (repo.path / "big.txt").write_text(noise(30_000))  # ~40 kB that do not compress: 6 parts
    with (repo.path / "train.py").open("a") as handle:
        handle.write("# staged change\n")
    git(repo.path, "add", "train.py")  # a staged change the capture must leave staged
    (repo.path / "notes").mkdir()
    (repo.path / "notes" / "idea.txt").write_text("untracked\n")
    before = status_snapshot(repo.path)

    run = run_training(store, repo.path, "train.py")
    tags = run.tags
    assert status_snapshot(repo.path) == before
    assert git(repo.path, "stash", "list") == ""
    ref = tags["mlrepro.git.stash_ref"]
    assert ref.startswith("refs/mlrepro/") and git(repo.path, "for-each-ref", "--format=%(refname)", "refs/mlrepro/") == ref
    assert git(repo.path, "rev-parse", f"{ref}^") == head
    for name in ("big.txt", "train.py", "notes/idea.txt"):
        assert raw_git(repo.path, "show", f"{ref}:{name}") == (repo.path / name).read_bytes()
    assert not diff_tags(tags)  # not cut: left out, and the ref says where the tree is
    patch = collect.uncommitted_patch(repo.path)
    assert patch is not None and tags["mlrepro.git.diff_sha256"] == hashlib.sha256(patch).hexdigest()
    restored = applied_to_a_clone(repo, patch, tmp_name="clone-over-cap")
    for name in ("big.txt", "train.py", "notes/idea.txt"):
        assert (restored / name).read_bytes() == (repo.path / name).read_bytes()

    code, findings = audit_json(store, repo.path, "--select", "MLR504")
    (finding,) = findings_of(findings, "MLR504")
    assert f"the diff was captured (stash ref {ref})" in finding["message"]


def test_detached_head(store: Store, repo: Repo, run_training: Any) -> None:
    git(repo.path, "checkout", "-q", "--detach")
    run = run_training(store, repo.path, "train.py")
    assert run.tags["mlrepro.git.branch"] == "HEAD"
    assert run.tags["mlrepro.git.commit"] == git(repo.path, "rev-parse", "HEAD")
    assert run.tags["mlrepro.git.dirty"] == "false"


def test_outside_git_only_the_git_tags_are_missing(store: Store, tmp_path: Path, run_training: Any, training_script: Any) -> None:
    plain = tmp_path / "no-git"
    plain.mkdir()
    assert find_worktree(plain) is None  # else this test proves nothing
    # seed_everything sets PYTHONHASHSEED for child processes; this process's hashing stays random.
    (plain / "train.py").write_text(training_script("from mlrepro import seed_everything\nseed_everything(11)"))
    run = run_training(store, plain, "train.py")
    mine = run.mlrepro()
    assert run.status == "FINISHED"
    assert not any(key.startswith("mlrepro.git.") for key in mine)
    assert "mlrepro.capture_error" not in mine
    assert json.loads(mine["mlrepro.command"]) == ["train.py"]
    assert mine["mlrepro.pythonhashseed"] == "random"
    assert mine["mlrepro.seed"] == "11"
    for key in ("mlrepro.cwd", "mlrepro.python", "mlrepro.platform", "mlrepro.pip_freeze_sha256", "mlrepro.run_by", "mlrepro.capture_version"):
        assert mine[key].strip(), key


def test_opt_out_records_no_mlrepro_tags(store: Store, repo: Repo, run_training: Any) -> None:
    (repo.path / "dirty.py").write_text("")
    run = run_training(store, repo.path, "train.py", env={"MLREPRO_CAPTURE": "0"})
    assert run.mlrepro() == {}
    assert run.tags["mlflow.source.git.commit"]  # MLflow's own providers still ran


def test_a_failing_git_does_not_fail_the_run(store: Store, repo: Repo, run_training: Any, tmp_path: Path) -> None:
    run = run_training(store, repo.path, "train.py", env={"GIT_DIR": str(tmp_path / "no-such.git")})
    assert run.status == "FINISHED"
    assert run.tags["mlrepro.capture_error"].startswith("git: GitCaptureError:")
    assert "mlrepro captured the run context only in part" in run.stderr
    assert run.tags["mlrepro.python"] and run.tags["mlrepro.pip_freeze_sha256"]  # the other parts still ran
    assert "mlrepro.git.dirty" not in run.tags


def test_command_is_relative_to_the_repository_root(store: Store, repo: Repo, run_training: Any, training_script: Any) -> None:
    repo.commit({"src/train.py": training_script()}, "script in a subdirectory")
    run = run_training(store, repo.path / "src", "train.py", "--lr", "0.1")
    assert json.loads(run.tags["mlrepro.command"]) == ["src/train.py", "--lr", "0.1"]
    assert run.tags["mlrepro.git.cwd"] == "src"
    assert run.tags["mlrepro.cwd"] == str((repo.path / "src").resolve())


def test_python_dash_m_is_recorded_as_typed_and_planned_as_such(store: Store, repo: Repo, run_training: Any, training_script: Any) -> None:
    from mlrepro.reproduce.plan import make_plan
    from mlrepro.sources.mlflow_store import MlflowStore

    repo.commit({"pkg/__init__.py": "", "pkg/train.py": training_script()}, "a training module")
    run = run_training(store, repo.path, "-m", "pkg.train", "--lr", "0.1")
    assert json.loads(run.tags["mlrepro.command"]) == ["python", "-m", "pkg.train", "--lr", "0.1"]
    plan = make_plan(MlflowStore.open(store.uri).get_run(run.run_id), repo.path)
    assert (plan.source, plan.argv, plan.workdir) == ("capture", (sys.executable, "-m", "pkg.train", "--lr", "0.1"), ".")


def test_dvc_outputs_are_recorded_and_uncommitted_data_is_caught_by_the_audit(store: Store, repo: Repo, run_training: Any) -> None:
    dvc(repo.path, "init", "-q")
    (repo.path / "data").mkdir()
    (repo.path / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n")
    dvc(repo.path, "add", "-q", "data/train.csv")
    repo.commit({}, "data under DVC")
    committed_md5 = yaml.safe_load((repo.path / "data" / "train.csv.dvc").read_text())["outs"][0]["md5"]
    assert committed_md5 == hashlib.md5((repo.path / "data" / "train.csv").read_bytes()).hexdigest()

    clean = run_training(store, repo.path, "train.py", env={"DVC_NO_ANALYTICS": "1"})
    assert clean.tags["mlrepro.git.dirty"] == "false"
    assert clean.tags["mlrepro.dvc.data/train.csv"] == committed_md5

    # New data added to DVC but not committed: the run records the md5 it trained on.
    (repo.path / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n3,1\n")
    dvc(repo.path, "add", "-q", "data/train.csv")
    dirty = run_training(store, repo.path, "train.py", env={"DVC_NO_ANALYTICS": "1"})
    new_md5 = hashlib.md5((repo.path / "data" / "train.csv").read_bytes()).hexdigest()
    assert dirty.tags["mlrepro.dvc.data/train.csv"] == new_md5 != committed_md5

    code, findings = audit_json(store, repo.path, "--select", "MLR604")
    assert [(f["run_id"], f["code"]) for f in findings] == [(dirty.run_id, "MLR604")]
    assert "data/train.csv" in findings[0]["message"] and new_md5 in findings[0]["message"]


# --- the provider's guarantee, in-process ---------------------------------------------------


def test_an_exception_in_the_capture_becomes_a_tag_and_a_warning(
    fluent: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> dict[str, str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(collect, "collect_tags", broken)
    with pytest.warns(UserWarning, match="mlrepro could not capture the run context: RuntimeError: boom"):
        with fluent.start_run() as run:
            pass
    recorded = store.client.get_run(run.info.run_id)
    assert recorded.info.status == "FINISHED"
    assert {k: v for k, v in recorded.data.tags.items() if k.startswith("mlrepro.")} == {"mlrepro.capture_error": "RuntimeError: boom"}


def test_in_process_runs_get_the_tags_too(fluent: Any, store: Store, repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo.path)
    with fluent.start_run() as run:
        pass
    tags = store.client.get_run(run.info.run_id).data.tags
    assert tags["mlrepro.git.commit"] == git(repo.path, "rev-parse", "HEAD")


# --- collect_tags in-process ----------------------------------------------------------------


def test_a_large_diff_is_split_into_parts_that_fit_a_tag(repo: Repo) -> None:
    (repo.path / "train.py").write_text(noise(20_000))
    tags = collect_tags(repo.path, argv=["train.py"])
    parts = int(tags["mlrepro.git.diff_parts"])
    assert parts >= 3
    assert all(len(tags[f"mlrepro.git.diff.{i}"]) <= TAG_VALUE_LIMIT for i in range(parts))
    assert all(len(value) <= TAG_VALUE_LIMIT for value in tags.values())
    assert decode_diff(tags) == raw_git(repo.path, "diff", "HEAD", "--binary")


def test_a_damaged_or_incomplete_diff_is_refused(repo: Repo) -> None:
    (repo.path / "train.py").write_text(noise(20_000))
    tags = collect_tags(repo.path, argv=["train.py"])
    missing = dict(tags)
    del missing["mlrepro.git.diff.1"]
    with pytest.raises(collect.CaptureError, match="incomplete"):
        decode_diff(missing)
    swapped = dict(tags)
    swapped["mlrepro.git.diff.0"], swapped["mlrepro.git.diff.1"] = tags["mlrepro.git.diff.1"], tags["mlrepro.git.diff.0"]
    with pytest.raises(collect.CaptureError):
        decode_diff(swapped)
    assert decode_diff({"mlrepro.git.dirty": "false"}) is None


def test_the_same_dirty_tree_keeps_one_snapshot_ref(repo: Repo) -> None:
    (repo.path / "train.py").write_text(noise(2_000))
    settings = collect.CaptureSettings(max_diff_tags=0)  # 0: always a commit, never diff tags
    first = collect_tags(repo.path, settings=settings, argv=["train.py"])
    second = collect_tags(repo.path, settings=settings, argv=["train.py"])
    assert first["mlrepro.git.stash_ref"] == second["mlrepro.git.stash_ref"]
    (repo.path / "train.py").write_text(noise(2_000, seed=1))
    third = collect_tags(repo.path, settings=settings, argv=["train.py"])
    assert third["mlrepro.git.stash_ref"] != first["mlrepro.git.stash_ref"]
    assert len(git(repo.path, "for-each-ref", "refs/mlrepro/").splitlines()) == 2


def test_an_untracked_list_too_long_for_a_tag_is_cut_only_with_the_full_tree_kept(repo: Repo) -> None:
    names = [f"outputs_of_an_experiment_with_a_long_name_{i:04d}.csv" for i in range(300)]
    for name in names:
        (repo.path / name).write_text(name)
    tags = collect_tags(repo.path, argv=["train.py"])
    listed = json.loads(tags["mlrepro.git.untracked"])
    assert len(tags["mlrepro.git.untracked"]) <= TAG_VALUE_LIMIT
    assert 0 < len(listed) < len(names) and listed == sorted(names)[: len(listed)]
    assert tags["mlrepro.git.untracked_count"] == "300"
    ref = tags["mlrepro.git.stash_ref"]
    in_commit = set(git(repo.path, "ls-tree", "--name-only", ref).splitlines())
    assert set(names) <= in_commit


def test_a_repository_without_commits_is_kept_as_a_root_commit(tmp_path: Path) -> None:
    path = tmp_path / "fresh"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print(1)\n")
    tags = collect_tags(path, argv=["train.py"])
    assert tags["mlrepro.git.dirty"] == "true" and tags["mlrepro.git.branch"] == "main"
    assert "mlrepro.git.commit" not in tags and "mlrepro.capture_error" not in tags
    ref = tags["mlrepro.git.stash_ref"]
    assert git(path, "show", f"{ref}:train.py") == "print(1)"
    assert git(path, "rev-list", "--count", ref) == "1"


def test_a_corrupt_repository_is_an_error_not_a_missing_repository(repo: Repo) -> None:
    (repo.path / ".git" / "HEAD").write_text("garbage\n")
    tags = collect_tags(repo.path, argv=["train.py"])
    assert tags["mlrepro.capture_error"].startswith("git: GitCaptureError:")
    assert "mlrepro.git.dirty" not in tags and tags["mlrepro.python"]


def test_an_invalid_cap_is_reported_and_the_default_applies(repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.capture]\nmax-diff-tags = "many"\n')
    tags = collect_tags(repo.path, argv=["train.py"])
    assert "config: ConfigError:" in tags["mlrepro.capture_error"] and "max-diff-tags" in tags["mlrepro.capture_error"]
    assert tags["mlrepro.git.diff_parts"] == "1"  # the pyproject change itself, under the default cap


def test_a_command_line_too_long_for_a_tag_says_what_was_left_out(repo: Repo) -> None:
    argv = [str(repo.path / "train.py"), *(f"--option-{i}=value-{i}" for i in range(1_000))]
    recorded = json.loads(collect_tags(repo.path, argv=argv)["mlrepro.command"])
    assert recorded[0] == "train.py"  # absolute script path made relative to the root
    assert recorded[-1] == "... 1001 arguments in all"
    assert recorded[:-1] == ["train.py", *argv[1:len(recorded) - 1]]


def test_dvc_paths_that_cannot_be_tag_keys_are_listed(repo: Repo) -> None:
    (repo.path / ".dvc").mkdir()
    (repo.path / ".dvc" / "config").write_text("")
    outs = {"data/ok.csv": "a" * 32, "data/odd(1).csv": "b" * 32}
    files = {f"{path}.dvc": yaml.safe_dump({"outs": [{"md5": md5, "path": Path(path).name}]}) for path, md5 in outs.items()}
    repo.commit(files, "dvc metadata")
    tags = collect_tags(repo.path, argv=["train.py"])
    assert tags["mlrepro.dvc.data/ok.csv"] == "a" * 32
    assert json.loads(tags["mlrepro.dvc_unrecorded"]) == ["data/odd(1).csv"]
    assert "mlrepro.capture_error" not in tags


def test_uncommitted_patch(repo: Repo, tmp_path: Path) -> None:
    assert collect.uncommitted_patch(repo.path) == b""
    (repo.path / "untracked.py").write_text("NEW = True\n")
    restored = applied_to_a_clone(repo, collect.uncommitted_patch(repo.path), tmp_name="clone-untracked")
    assert (restored / "untracked.py").read_text() == "NEW = True\n"
    (repo.path / "untracked.py").unlink()
    (repo.path / "train.py").write_text("changed\n")
    (repo.path / "sub").mkdir()
    assert collect.uncommitted_patch(repo.path / "sub") == raw_git(repo.path, "diff", "HEAD", "--binary")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert collect.uncommitted_patch(outside) is None


def test_capture_does_not_write_to_the_users_index(repo: Repo) -> None:
    (repo.path / "train.py").write_text("changed\n")
    index = repo.path / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    collect_tags(repo.path, settings=collect.CaptureSettings(max_diff_tags=0), argv=["train.py"])
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
