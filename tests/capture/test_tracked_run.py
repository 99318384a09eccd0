"""``mlrepro.tracked_run`` against a real SQLite store and a real git repository: the policy
refuses before anything is written, every run ends, the model gate holds, and a guarded
run passes the default audit with no findings at all."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from audit_helpers import GOOD_TAGS, Repo, Store, audit_json, codes_by_run, git
from audit_helpers import run_python

import mlrepro
from mlrepro import PolicyError, tracked_run


def _all_runs(store: Store) -> list[Any]:
    from mlflow.entities import ViewType

    experiments = [e.experiment_id for e in store.client.search_experiments(view_type=ViewType.ALL)]
    return list(store.client.search_runs(experiments, run_view_type=ViewType.ALL))


def _artifact_text(store: Store, run_id: str, path: str) -> bytes:
    import mlflow

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=store.uri)
    return Path(local).read_bytes()


def _artifacts(store: Store, run_id: str, folder: str) -> set[str]:
    return {a.path for a in store.client.list_artifacts(run_id, folder)}


# --- the policy: refused before anything is written -------------------------------------------


def test_policy_rejection_leaves_nothing_in_the_store(in_repo: Repo, store: Store) -> None:
    before = store.digest()
    with pytest.raises(PolicyError) as refused:
        with tracked_run(experiment="brand-new", run_name="rf-depth8", tags={"team": "fraud", "purpose": " "}, seed=1):
            pytest.fail("the block must not run")
    error = refused.value
    assert isinstance(error, ValueError)
    assert error.missing_tags == ("model_type", "dataset_version", "feature_set", "purpose")
    assert "model_type, dataset_version, feature_set, purpose" in str(error) and "MLR701" in str(error)
    assert store.digest() == before  # not a run, not an experiment, not a byte
    assert store.client.get_experiment_by_name("brand-new") is None
    assert _all_runs(store) == []


def test_policy_rejection_does_not_even_create_the_database(in_repo: Repo, tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    with pytest.raises(PolicyError):
        with tracked_run(run_name="rf-depth8", tracking_uri=f"sqlite:///{database}", seed=1):
            pass
    assert not database.exists()


def test_required_params_come_from_the_project_policy(in_repo: Repo, store: Store) -> None:
    (in_repo.path / "pyproject.toml").write_text(
        '[tool.mlrepro.audit]\nrequired-tags = ["team"]\nrequired-params = ["lr", "seed"]\n'
    )
    with pytest.raises(PolicyError) as refused:
        with tracked_run(run_name="logreg-l2", tags={"team": "fraud"}, params={"C": 1.0}):
            pass
    assert refused.value.missing_params == ("lr", "seed")
    assert refused.value.missing_tags == ()
    assert [code for code, _ in refused.value.problems] == ["MLR709", "MLR506"]
    assert _all_runs(store) == []

    with tracked_run(run_name="logreg-l2", tags={"team": "fraud"}, params={"lr": 0.1}, seed=3) as run:
        pass
    assert store.client.get_run(run.run_id).data.params == {"lr": "0.1", "seed": "3"}


@pytest.mark.parametrize(
    ("run_name", "seed", "codes"),
    [(None, 1, ["MLR702"]), ("test2", 1, ["MLR702"]), ("rf-depth8", None, ["MLR506"])],
)
def test_a_run_the_audit_would_flag_is_refused(in_repo: Repo, store: Store, run_name: str | None, seed: int | None, codes: list[str]) -> None:
    with pytest.raises(PolicyError) as refused:
        with tracked_run(run_name=run_name, tags=GOOD_TAGS, seed=seed):
            pass
    assert [code for code, _ in refused.value.problems] == codes
    assert _all_runs(store) == []


def test_rules_the_team_switched_off_do_not_refuse(in_repo: Repo, store: Store) -> None:
    (in_repo.path / "pyproject.toml").write_text('[tool.mlrepro]\nignore = ["MLR702", "MLR506"]\n')
    with tracked_run(tags=GOOD_TAGS):
        pass
    # fail-on = "warning": an info-level rule (MLR702) no longer refuses; an error-level one (MLR506) does.
    (in_repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\nfail-on = "warning"\n')
    with pytest.raises(PolicyError) as refused:
        with tracked_run(tags=GOOD_TAGS):
            pass
    assert [code for code, _ in refused.value.problems] == ["MLR506"]
    assert len(_all_runs(store)) == 1


def test_conflicting_seed_param_is_refused(in_repo: Repo, store: Store) -> None:
    with pytest.raises(ValueError, match="disagrees"):
        with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, params={"seed": 3}, seed=4):
            pass
    assert _all_runs(store) == []


def test_an_active_run_is_refused_before_the_experiment_is_created(in_repo: Repo, store: Store) -> None:
    import mlflow

    with mlflow.start_run(experiment_id=store.experiment("outer"), run_name="outer-run"):
        with pytest.raises(RuntimeError, match="already active"):
            with tracked_run(experiment="inner", run_name="rf-depth8", tags=GOOD_TAGS, seed=1):
                pass
    assert store.client.get_experiment_by_name("inner") is None


# --- a run that goes through ----------------------------------------------------------------


def test_a_guarded_run_records_seed_params_capture_and_environment(in_repo: Repo, store: Store) -> None:
    import numpy as np

    from mlrepro.capture.collect import pip_freeze

    with tracked_run(experiment="churn", run_name="rf-depth8", tags=GOOD_TAGS, params={"max_depth": 8}, seed=42) as run:
        first_draw = np.random.rand()
        run.log_metric("accuracy", 0.9)
    np.random.seed(42)
    assert first_draw == np.random.rand()  # seeded last: nothing drew before the block

    recorded = store.client.get_run(run.run_id)
    tags = recorded.data.tags
    assert recorded.info.status == "FINISHED"
    assert recorded.info.run_name == "rf-depth8"
    assert recorded.info.experiment_id == store.client.get_experiment_by_name("churn").experiment_id
    assert recorded.data.params == {"max_depth": "8", "seed": "42"}
    assert recorded.data.metrics == {"accuracy": 0.9}
    assert {k: tags[k] for k in GOOD_TAGS} == GOOD_TAGS
    assert tags["mlrepro.seed"] == "42"
    assert tags["mlrepro.run_by"]
    assert tags["mlrepro.git.dirty"] == "false"
    assert tags["mlflow.source.git.commit"] == git(in_repo.path, "rev-parse", "HEAD")
    freeze = _artifact_text(store, run.run_id, "mlrepro/requirements.lock.txt")
    assert freeze == pip_freeze().encode()
    assert tags["mlrepro.pip_freeze_sha256"] == hashlib.sha256(freeze).hexdigest()
    assert _artifacts(store, run.run_id, "mlrepro") == {"mlrepro/requirements.lock.txt"}  # clean: no patch
    assert "mlrepro.capture_error" not in tags
    assert mlrepro.tracked_run is tracked_run


def test_the_commit_is_read_at_every_run_start(in_repo: Repo, store: Store) -> None:
    """MLflow caches the commit per process (a notebook keeps recording its first run's
    commit): a guarded run records the commit it really ran."""
    with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1) as first:
        pass
    new_head = in_repo.commit({"features.py": "FEATURES = ['amount']\n"}, "add features")
    with tracked_run(run_name="rf-depth8-features", tags=GOOD_TAGS, seed=1) as second:
        pass
    assert store.client.get_run(second.run_id).data.tags["mlflow.source.git.commit"] == new_head
    assert store.client.get_run(first.run_id).data.tags["mlflow.source.git.commit"] != new_head


def test_python_c_gets_a_commit_too(repo: Repo, store: Store) -> None:
    """``python -c`` (and notebooks): MLflow records no commit, the guarded run does."""
    code = (
        "import mlrepro\n"
        "tags = {'model_type': 'rf', 'dataset_version': 'v3', 'feature_set': 'base', 'team': 'fraud', 'purpose': 'adhoc'}\n"
        "with mlrepro.tracked_run(run_name='rf-adhoc-check', tags=tags, seed=1) as run:\n"
        "    print('RUN_ID=' + run.run_id)\n"
    )
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "MLREPRO_SEED")}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false"})
    result = subprocess.run([sys.executable, "-c", code], cwd=repo.path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip().split("=", 1)[1]
    tags = store.client.get_run(run_id).data.tags
    assert tags["mlflow.source.git.commit"] == git(repo.path, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "main"


def test_capture_switched_off_still_gives_an_auditable_guarded_run(in_repo: Repo, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLREPRO_CAPTURE", "0")
    with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1) as run:
        pass
    tags = store.client.get_run(run.run_id).data.tags
    assert tags["mlrepro.git.dirty"] == "false"
    assert tags["mlrepro.capture_version"] == mlrepro.__version__
    assert tags["mlrepro.git.commit"] == git(in_repo.path, "rev-parse", "HEAD")


def test_a_dirty_tree_logs_its_diff_as_an_artifact(in_repo: Repo, store: Store) -> None:
    (in_repo.path / "train.py").write_text("print('train, edited')\n")
    with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1) as run:
        pass
    tags = store.client.get_run(run.run_id).data.tags
    assert tags["mlrepro.git.dirty"] == "true"
    patch = _artifact_text(store, run.run_id, "mlrepro/uncommitted.patch")
    assert patch == subprocess.run(["git", "diff", "--binary", "HEAD"], cwd=in_repo.path, capture_output=True, check=True).stdout
    assert b"+print('train, edited')" in patch
    # The patch restores the code that ran.
    git(in_repo.path, "checkout", "--", "train.py")
    subprocess.run(["git", "apply"], input=patch, cwd=in_repo.path, check=True)
    assert (in_repo.path / "train.py").read_text() == "print('train, edited')\n"


# --- every run ends -----------------------------------------------------------------------------


def test_an_exception_ends_the_run_failed_and_is_raised(in_repo: Repo, store: Store) -> None:
    import mlflow

    with pytest.raises(ZeroDivisionError):
        with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1) as run:
            run.log_metric("loss", 0.5)
            1 / 0  # noqa: B018
    recorded = store.client.get_run(run.run_id)
    assert recorded.info.status == "FAILED"
    assert recorded.data.tags["mlrepro.error"] == "ZeroDivisionError"
    assert recorded.data.metrics == {"loss": 0.5}
    assert mlflow.active_run() is None


def test_keyboard_interrupt_ends_the_run_killed(in_repo: Repo, store: Store) -> None:
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1) as run:
            raise KeyboardInterrupt
    recorded = store.client.get_run(run.run_id)
    assert (recorded.info.status, recorded.data.tags["mlrepro.error"]) == ("KILLED", "KeyboardInterrupt")


@pytest.mark.parametrize(("code", "status"), [(0, "FINISHED"), (None, "FINISHED"), (3, "FAILED")])
def test_sys_exit_ends_the_run_by_its_code(in_repo: Repo, store: Store, code: int | None, status: str) -> None:
    with pytest.raises(SystemExit):
        with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1) as run:
            sys.exit(code)
    assert store.client.get_run(run.run_id).info.status == status


def test_a_run_ended_inside_the_block_still_gets_the_failure(in_repo: Repo, store: Store) -> None:
    import mlflow

    with pytest.raises(RuntimeError):
        with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1) as run:
            mlflow.end_run()
            raise RuntimeError("after the run was ended")
    recorded = store.client.get_run(run.run_id)
    assert (recorded.info.status, recorded.data.tags["mlrepro.error"]) == ("FAILED", "RuntimeError")


SLEEPER = textwrap.dedent(
    """
    import time
    import mlrepro

    tags = {"model_type": "rf", "dataset_version": "v3", "feature_set": "base", "team": "fraud", "purpose": "timeout test"}
    with mlrepro.tracked_run(run_name="rf-long-training", tags=tags, seed=1) as run:
        print("RUN_ID=" + run.run_id, flush=True)
        time.sleep(120)
    print("not reached", flush=True)
    """
)


def test_sigterm_ends_the_run_killed_and_the_process_still_dies_of_it(repo: Repo, store: Store) -> None:
    """What a scheduler's timeout or a preemption sends: the run must not stay RUNNING."""
    import os

    script = repo.path / "long_training.py"
    script.write_text(SLEEPER)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "MLREPRO_SEED")}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ENABLE_ASYNC_LOGGING": "false"})
    process = subprocess.Popen([sys.executable, str(script)], cwd=repo.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("RUN_ID="), process.stderr.read() if process.stderr else ""
        run_id = line.strip().split("=", 1)[1]
        assert store.client.get_run(run_id).info.status == "RUNNING"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGTERM, err
    assert "not reached" not in out
    recorded = store.client.get_run(run_id)
    assert (recorded.info.status, recorded.data.tags["mlrepro.error"]) == ("KILLED", "SIGTERM")


# --- the model gate -------------------------------------------------------------------------------


def _model() -> tuple[Any, Any]:
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.random((80, 3))
    y = (X[:, 0] > 0.5).astype(int)
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), X


def _logged_models(store: Store, run_id: str) -> list[Any]:
    return list(store.client.get_run(run_id).outputs.model_outputs or [])


def test_the_gate_blocks_a_model_below_the_bar(in_repo: Repo, store: Store) -> None:
    import mlflow.sklearn

    model, _ = _model()
    with tracked_run(run_name="tree-depth3", tags=GOOD_TAGS, seed=1, min_metric={"val_auc": 0.8}) as run:
        run.log_metric("val_auc", 0.71)
        info = run.log_model(mlflow.sklearn, model, name="model", serialization_format="cloudpickle")
    assert info is None
    assert run.model_gate == "blocked: val_auc=0.71 < 0.8"
    recorded = store.client.get_run(run.run_id)
    assert recorded.data.tags["mlrepro.model_gate"] == "blocked: val_auc=0.71 < 0.8"
    assert recorded.info.status == "FINISHED"
    assert _logged_models(store, run.run_id) == []


def test_the_gate_blocks_when_the_metric_was_never_logged(in_repo: Repo, store: Store) -> None:
    import mlflow.sklearn

    model, _ = _model()
    with tracked_run(run_name="tree-depth3", tags=GOOD_TAGS, seed=1, min_metric={"val_auc": 0.8, "recall": 0.5}) as run:
        run.log_metrics({"recall": float("nan")})
        assert run.log_model(mlflow.sklearn, model, name="model", serialization_format="cloudpickle") is None
    assert store.client.get_run(run.run_id).data.tags["mlrepro.model_gate"] == "blocked: val_auc not logged; recall=nan is not a number"
    assert _logged_models(store, run.run_id) == []


def test_the_gate_passes_a_model_at_or_above_the_bar(in_repo: Repo, store: Store) -> None:
    import mlflow
    import mlflow.sklearn

    model, X = _model()
    with tracked_run(run_name="tree-depth3", tags=GOOD_TAGS, seed=1, min_metric={"val_auc": 0.8}) as run:
        # Logged through MLflow directly, not the handle: the gate reads the store.
        mlflow.log_metric("val_auc", 0.93)
        info = run.log_model(mlflow.sklearn, model, name="model", serialization_format="cloudpickle")
    assert info is not None
    assert store.client.get_run(run.run_id).data.tags["mlrepro.model_gate"] == "passed: val_auc=0.93 >= 0.8"
    assert [o.model_id for o in _logged_models(store, run.run_id)] == [info.model_id]
    reloaded = mlflow.sklearn.load_model(info.model_uri)
    assert (reloaded.predict(X) == model.predict(X)).all()


def test_tracking_uri_argument_chooses_the_store(in_repo: Repo, store: Store, tmp_path: Path, mlflow_template: Path) -> None:
    import shutil

    other = tmp_path / "other.db"
    shutil.copy(mlflow_template, other)
    with tracked_run(run_name="rf-depth8", tags=GOOD_TAGS, seed=1, tracking_uri=f"sqlite:///{other}") as run:
        pass
    from mlflow import MlflowClient

    assert MlflowClient(tracking_uri=f"sqlite:///{other}").get_run(run.run_id).info.status == "FINISHED"
    assert _all_runs(store) == []


# --- the key property: a guarded run passes the audit ------------------------------------------

GUARDED_TRAINING = textwrap.dedent(
    """
    import mlflow
    import mlflow.data
    import mlflow.sklearn
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    import mlrepro

    TAGS = {
        "model_type": "random_forest",
        "dataset_version": "synthetic-v1",
        "feature_set": "baseline",
        "team": "fraud",
        "purpose": "nightly retrain",
    }

    with mlrepro.tracked_run(
        experiment="fraud-detection",
        run_name="rf-depth6-baseline",
        tags=TAGS,
        params={"max_depth": 6, "n_estimators": 30},
        seed=42,
        min_metric={"val_auc": 0.8},
    ) as run:
        X = np.random.rand(500, 5)
        y = (X[:, 0] + X[:, 1] + 0.2 * np.random.randn(500) > 1).astype(int)
        mlflow.log_input(mlflow.data.from_numpy(X, targets=y, name="synthetic-fraud"), context="training")
        model = RandomForestClassifier(max_depth=6, n_estimators=30).fit(X[:400], y[:400])
        auc = roc_auc_score(y[400:], model.predict_proba(X[400:])[:, 1])
        run.log_metric("val_auc", auc)
        info = run.log_model(mlflow.sklearn, model, name="model", serialization_format="cloudpickle")
        print("RUN_ID=" + run.run_id)
        print("LOGGED=" + str(info is not None))
    """
)


def test_a_guarded_run_passes_the_default_audit_with_zero_findings(repo: Repo, store: Store) -> None:
    """A clean, pushed commit; a training script run as users run it; the run made through
    tracked_run, twice with the same seed (identical metrics, so the runs are not
    'indistinguishable with different results' either): the default audit finds nothing."""
    repo.commit({"train_guarded.py": GUARDED_TRAINING}, "guarded training")
    runs = []
    for _ in range(2):
        result = run_python(repo.path / "train_guarded.py", cwd=repo.path, env={"MLFLOW_TRACKING_URI": store.uri})
        assert result.returncode == 0, result.stderr
        lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        assert lines["LOGGED"] == "True"
        runs.append(lines["RUN_ID"])
    assert git(repo.path, "status", "--porcelain") == ""  # nothing the runs wrote makes the tree dirty

    first, second = (store.client.get_run(run_id) for run_id in runs)
    assert first.info.status == second.info.status == "FINISHED"
    assert first.data.metrics == second.data.metrics and first.data.metrics["val_auc"] >= 0.8
    assert first.data.tags["mlrepro.model_gate"].startswith("passed: val_auc=")
    assert first.data.tags["mlflow.source.git.commit"] == git(repo.path, "rev-parse", "HEAD")
    assert first.data.tags["mlrepro.git.remote_contains_commit"] == "true"
    assert first.inputs.dataset_inputs[0].dataset.name == "synthetic-fraud"

    code, findings = audit_json(store, repo.path)
    assert findings == [], json.dumps(codes_by_run(findings), default=sorted)
    assert code == 0


def test_the_audit_flags_the_same_training_without_the_guard(repo: Repo, store: Store) -> None:
    """The counterpart: plain ``mlflow.start_run`` with the same tags and no seed is flagged,
    so the zero above is the guard's doing and not an audit that finds nothing."""
    script = textwrap.dedent(
        """
        import mlflow
        import numpy as np

        mlflow.set_experiment("fraud-detection")
        tags = {"model_type": "random_forest", "dataset_version": "synthetic-v1", "feature_set": "baseline", "team": "fraud", "purpose": "nightly retrain"}
        with mlflow.start_run(run_name="rf-depth6-baseline", tags=tags) as run:
            mlflow.log_params({"max_depth": 6, "n_estimators": 30})
            mlflow.log_metric("val_auc", float(np.random.rand()))
            print("RUN_ID=" + run.info.run_id)
        """
    )
    repo.commit({"train_plain.py": script}, "plain training")
    result = run_python(repo.path / "train_plain.py", cwd=repo.path, env={"MLFLOW_TRACKING_URI": store.uri})
    assert result.returncode == 0, result.stderr
    _, findings = audit_json(store, repo.path)
    assert {f["code"] for f in findings} == {"MLR506"}
