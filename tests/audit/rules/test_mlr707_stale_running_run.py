from __future__ import annotations

import time

from audit_helpers import Repo, Store, audit_json, codes_by_run

HOUR_MS = 3_600_000


def test_run_left_running_by_a_dead_process_is_reported(store: Store, repo: Repo) -> None:
    now = int(time.time() * 1000)
    good = store.good_run(repo)
    in_progress = store.good_run(repo, status="RUNNING", start_time=now - 2 * HOUR_MS)
    dead = store.good_run(repo, status="RUNNING", start_time=now - 30 * HOUR_MS)
    old_but_finished = store.good_run(repo, start_time=now - 300 * HOUR_MS)
    code, findings = audit_json(store, repo.path, "--select", "MLR707")
    assert (code, codes_by_run(findings)) == (1, {dead: {"MLR707"}})
    [finding] = findings
    assert finding["message"].startswith("still RUNNING 30 hours after it started (")
    assert "the process most likely died" in finding["message"]
    assert finding["severity"] == "error"
    for clean in (good, in_progress, old_but_finished):
        assert clean not in codes_by_run(findings)


def test_threshold_comes_from_the_policy(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text("[tool.mlrepro.audit]\nstale-running-hours = 1\n")
    run = store.good_run(repo, status="RUNNING", start_time=int(time.time() * 1000) - 2 * HOUR_MS)
    code, findings = audit_json(store, repo.path, "--select", "MLR707")
    assert (code, codes_by_run(findings)) == (1, {run: {"MLR707"}})
