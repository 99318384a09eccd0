from __future__ import annotations

import math

from audit_helpers import Repo, Store, audit_json, codes_by_run


def test_nan_and_infinite_metrics_are_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo, metrics={"accuracy": 0.91, "loss": 0.0})
    diverged = store.good_run(repo, metrics={"accuracy": 0.5, "loss": math.nan, "val_loss": math.inf})
    negative = store.good_run(repo, metrics={"log_likelihood": -math.inf})
    code, findings = audit_json(store, repo.path, "--select", "MLR710")
    assert code == 1
    assert codes_by_run(findings) == {diverged: {"MLR710"}, negative: {"MLR710"}}
    messages = {f["run_id"]: f["message"] for f in findings}
    assert messages[diverged].startswith("metrics with a non-finite latest value: loss = nan, val_loss = inf; ")
    assert messages[negative].startswith("metric with a non-finite latest value: log_likelihood = -inf; ")
    assert good not in codes_by_run(findings)


def test_only_the_latest_value_counts(store: Store, repo: Repo) -> None:
    from mlflow.entities import Metric

    recovered = store.good_run(repo, metrics={})
    store.client.log_batch(recovered, metrics=[Metric("loss", math.nan, 1, 0), Metric("loss", 0.3, 2, 1)])
    code, findings = audit_json(store, repo.path, "--select", "MLR710")
    assert (code, findings) == (0, [])
