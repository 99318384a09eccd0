from __future__ import annotations

import time

from audit_helpers import Repo, Store, audit_json, codes_by_run

from mlrepro.audit.checks.tags import indistinguishable_runs
from mlrepro.audit.context import AuditContext
from mlrepro.audit.policy import AuditPolicy
from mlrepro.records import RunRecord

TAIL = ": nothing in params or tags explains the difference; log what changed (seed, data version, ...)"


def test_same_configuration_with_different_results_is_reported(store: Store, repo: Repo) -> None:
    start = int(time.time() * 1000) - 3_600_000
    at = iter(range(start, start + 100_000, 1000))  # distinct start times: a stable order
    a = store.good_run(repo, start_time=next(at), metrics={"accuracy": 0.91, "loss": 0.2})
    b = store.good_run(repo, start_time=next(at), metrics={"accuracy": 0.87, "loss": 0.2})
    # System tags are not configuration: a different mlrepro.* tag keeps c in the group.
    c = store.good_run(repo, start_time=next(at), metrics={"accuracy": 0.91}, tags={"mlrepro.git.dirty": "true"})
    other_params = store.good_run(repo, start_time=next(at), params={"seed": "42", "max_depth": "6"}, metrics={"accuracy": 0.5})
    other_tags = store.good_run(repo, start_time=next(at), tags={"feature_set": "v2"}, metrics={"accuracy": 0.6})
    failed = store.good_run(repo, start_time=next(at), status="FAILED", metrics={"accuracy": 0.1})
    other_experiment = store.good_run(repo, experiment="fraud", start_time=next(at), metrics={"accuracy": 0.7})
    same_a = store.good_run(repo, experiment="fraud", start_time=next(at), metrics={"accuracy": 0.7}, params={"seed": "7"})
    same_b = store.good_run(repo, experiment="fraud", start_time=next(at), metrics={"accuracy": 0.7}, params={"seed": "7"})
    code, findings = audit_json(store, repo.path, "--select", "MLR703")
    assert code == 1
    assert codes_by_run(findings) == {a: {"MLR703"}, b: {"MLR703"}, c: {"MLR703"}}
    messages = {f["run_id"]: f["message"] for f in findings}
    assert messages[a] == f"same params and user tags as {b}, {c} but different accuracy (0.91 here, 0.87 in {b}){TAIL}"
    assert messages[b] == f"same params and user tags as {a}, {c} but different accuracy (0.87 here, 0.91 in {a}){TAIL}"
    assert messages[c] == f"same params and user tags as {a}, {b} but different accuracy (0.91 here, 0.87 in {b}){TAIL}"
    for clean in (other_params, other_tags, failed, other_experiment, same_a, same_b):
        assert clean not in codes_by_run(findings)


def test_large_groups_name_five_runs(store: Store, repo: Repo) -> None:
    start = int(time.time() * 1000) - 3_600_000
    runs = [store.good_run(repo, start_time=start + i * 1000, metrics={"accuracy": 0.8 + i / 100}) for i in range(8)]
    code, findings = audit_json(store, repo.path, "--select", "MLR703")
    assert code == 1 and len(findings) == 8
    first = next(f for f in findings if f["run_id"] == runs[0])
    assert first["message"].startswith(f"same params and user tags as {', '.join(runs[1:6])} and 2 more but different accuracy")


def _record(i: int, params: dict[str, str], accuracy: float) -> RunRecord:
    return RunRecord(
        run_id=f"r{i}", experiment_id="1", experiment_name="e", run_name=None, status="FINISHED",
        start_time=None, end_time=None, params=params, metrics={"accuracy": accuracy}, tags={"team": "a"},
    )


def test_scales_linearly_with_one_huge_group() -> None:
    """A sweep that logs no params puts every run in one group; quadratic work would take minutes."""
    runs = [_record(i, {}, 0.9 if i else 0.8) for i in range(20_000)]
    runs += [_record(20_000 + i, {"i": str(i)}, 0.5) for i in range(20_000)]
    began = time.perf_counter()
    found = list(indistinguishable_runs(runs, AuditContext(AuditPolicy())))
    elapsed = time.perf_counter() - began
    assert len(found) == 20_000
    assert found[5][1].startswith("same params and user tags as r0, r1, r2, r3, r4 and 19994 more but different accuracy (0.9 here, 0.8 in r0)")
    assert elapsed < 5, f"{elapsed:.1f} s for 40,000 runs"
