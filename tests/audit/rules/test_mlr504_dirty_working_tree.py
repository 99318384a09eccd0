from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run, git
from mlrepro.audit.checks.provenance import dirty_working_tree
from mlrepro.audit.context import AuditContext
from mlrepro.audit.policy import AuditPolicy
from mlrepro.records import Artifact, RunRecord


def test_dirty_run_without_captured_diff_is_reported(store: Store, repo: Repo) -> None:
    clean = store.good_run(repo)
    dirty = store.good_run(repo, tags={"mlrepro.git.dirty": "true"})
    head = git(repo.path, "rev-parse", "HEAD")
    code, findings = audit_json(store, repo.path, "--select", "MLR504")
    assert code == 1
    assert codes_by_run(findings) == {dirty: {"MLR504"}}
    assert findings[0]["severity"] == "error"
    assert findings[0]["message"] == (
        f"the working tree was dirty: this run ran uncommitted changes on top of commit {head[:12]} that were not "
        "captured, so checking out the commit does not give back the code that ran"
    )
    assert clean not in codes_by_run(findings)


def test_message_says_where_the_diff_was_captured(store: Store, repo: Repo) -> None:
    stashed = store.good_run(repo, tags={"mlrepro.git.dirty": "true", "mlrepro.git.stash_ref": "refs/mlrepro/abc123"})
    chunked = store.good_run(repo, tags={"mlrepro.git.dirty": "true", "mlrepro.git.diff.0": "--- a/train.py", "mlrepro.git.diff.1": "+lr"})
    patched = store.good_run(repo, artifacts={"mlrepro/uncommitted.patch": b"--- a/train.py\n+++ b/train.py\n"})
    code, findings = audit_json(store, repo.path, "--select", "MLR504")
    messages = {f["run_id"]: f["message"] for f in findings}
    assert set(messages) == {stashed, chunked, patched}
    assert "the diff was captured (stash ref refs/mlrepro/abc123), so the run reproduces only with that diff applied" in messages[stashed]
    assert "the diff was captured (tags mlrepro.git.diff.0...)" in messages[chunked]
    assert "the diff was captured (artifact mlrepro/uncommitted.patch)" in messages[patched]


def test_empty_patch_and_unlisted_artifacts_stay_quiet(store: Store, repo: Repo) -> None:
    store.good_run(repo, artifacts={"mlrepro/uncommitted.patch": b""})  # the capture found a clean tree
    patched = store.good_run(repo, artifacts={"mlrepro/uncommitted.patch": b"+lr = 0.3\n"})
    code, findings = audit_json(store, repo.path, "--select", "MLR504")
    assert codes_by_run(findings) == {patched: {"MLR504"}}
    code, findings = audit_json(store, repo.path, "--select", "MLR504", "--no-artifacts")
    assert (code, findings) == (0, [])


def test_wandb_diff_patch_means_dirty() -> None:
    # No W&B reader yet: the record is what it will produce for a run with `files/diff.patch`.
    run = RunRecord("abc", "proj", None, None, "FINISHED", None, None, tags={"mlflow.source.git.commit": "f" * 40},
                    artifacts=(Artifact("diff.patch", 120), Artifact("config.yaml", 50)), source="wandb")
    [message] = dirty_working_tree(run, AuditContext(AuditPolicy(), artifacts_listed=True))
    assert "the diff was captured (artifact diff.patch)" in message
    mlflow_run = RunRecord("abd", "1", None, None, "FINISHED", None, None, artifacts=(Artifact("diff.patch", 120),))
    assert list(dirty_working_tree(mlflow_run, AuditContext(AuditPolicy(), artifacts_listed=True))) == []
