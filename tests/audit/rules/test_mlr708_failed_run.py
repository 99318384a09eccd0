from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_failed_and_killed_runs_are_reported_as_info(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    failed = store.good_run(repo, status="FAILED")
    killed = store.good_run(repo, status="KILLED")
    running = store.good_run(repo, status="RUNNING")
    code, findings = audit_json(store, repo.path, "--select", "MLR708")
    assert code == 1
    assert codes_by_run(findings) == {failed: {"MLR708"}, killed: {"MLR708"}}
    messages = {f["run_id"]: f["message"] for f in findings}
    assert messages[killed] == "run ended KILLED: its metrics and artifacts may be partial, so it is left out of run comparisons"
    assert {f["severity"] for f in findings} == {"info"}
    assert good not in codes_by_run(findings) and running not in codes_by_run(findings)


def test_fail_on_warning_lets_failed_runs_pass(store: Store, repo: Repo) -> None:
    store.good_run(repo, status="FAILED")
    code, findings = audit_json(store, repo.path, "--select", "MLR708", "--fail-on", "warning")
    assert code == 0 and [f["code"] for f in findings] == ["MLR708"]
