from __future__ import annotations

from audit_helpers import Repo, Store, audit_json, codes_by_run
from mlrepro.audit.policy import DEFAULT_SEED_PARAMS


def test_run_without_seed_is_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    unseeded = store.good_run(repo, params={"max_depth": "8"})
    code, findings = audit_json(store, repo.path, "--select", "MLR506")
    assert code == 1
    assert codes_by_run(findings) == {unseeded: {"MLR506"}}
    assert findings[0]["severity"] == "error"
    assert findings[0]["message"] == (
        f"no seed recorded (no param or tag named {', '.join(DEFAULT_SEED_PARAMS)}, mlrepro.seed): "
        "the seed is not recorded, so a re-run cannot be shown to draw the same random numbers"
    )
    # Not a claim that re-runs differ: an unrecorded seed may still be a fixed one in the code.
    assert "different" not in findings[0]["message"]
    assert good not in codes_by_run(findings)


def test_seed_logged_as_none_is_reported(store: Store, repo: Repo) -> None:
    # What sklearn autolog logs for an estimator left unseeded.
    autologged = store.good_run(repo, params={"clf__random_state": "None", "clf__n_estimators": "200"})
    code, findings = audit_json(store, repo.path, "--select", "MLR506")
    assert codes_by_run(findings) == {autologged: {"MLR506"}}
    assert findings[0]["message"] == (
        "seed recorded without a value (clf__random_state=None): the seed is not recorded, so a re-run cannot be shown to draw the same random numbers"
    )


def test_accepted_spellings(store: Store, repo: Repo) -> None:
    store.good_run(repo, params={"trainer.seed": "3"})  # Hydra, flattened
    store.good_run(repo, params={"clf__random_state": "None", "seed": "7"})  # global seed covers it
    store.good_run(repo, params={}, tags={"mlrepro.seed": "1234"})  # capture plugin
    store.good_run(repo, params={}, tags={"Random_State": "0"})
    code, findings = audit_json(store, repo.path, "--select", "MLR506")
    assert (code, findings) == (0, [])


def test_seed_names_come_from_the_policy(store: Store, repo: Repo) -> None:
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\nseed-params = ["rng"]\n')
    plain = store.good_run(repo)  # `seed` no longer counts
    named = store.good_run(repo, params={"rng": "5"})
    code, findings = audit_json(store, repo.path, "--select", "MLR506")
    assert codes_by_run(findings) == {plain: {"MLR506"}}
    assert "no param or tag named rng, mlrepro.seed" in findings[0]["message"]
    assert named not in codes_by_run(findings)


def test_a_sweep_parent_is_judged_by_its_children(store: Store, repo: Repo) -> None:
    # Optuna / hyperopt / Ray Tune with nested runs: the parent trains nothing itself.
    parent = store.good_run(repo, params={"n_trials": "2"})
    store.good_run(repo, params={"seed": "1", "lr": "0.1"}, tags={"mlflow.parentRunId": parent})
    unseeded_child = store.good_run(repo, params={"lr": "0.2"}, tags={"mlflow.parentRunId": parent})
    lone = store.good_run(repo, params={"n_trials": "2"})  # no children: judged as any run
    code, findings = audit_json(store, repo.path, "--select", "MLR506")
    assert (code, codes_by_run(findings)) == (1, {unseeded_child: {"MLR506"}, lone: {"MLR506"}})
