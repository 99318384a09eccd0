from __future__ import annotations

import json

from audit_helpers import Repo, Store, audit_json, codes_by_run

SOURCE = json.dumps({"uri": "data/train.csv"})


def test_dataset_logged_without_digest_is_reported(store: Store, repo: Repo) -> None:
    good = store.good_run(repo)
    bare = store.good_run(repo, datasets=[("train", "", "local", SOURCE), ("holdout", "9f8e7d6c", "local", SOURCE)])
    code, findings = audit_json(store, repo.path, "--select", "MLR602")
    assert code == 1  # a warning still fails under the default fail-on = note
    assert codes_by_run(findings) == {bare: {"MLR602"}}
    [finding] = findings
    assert finding["message"] == "dataset 'train' was logged without a digest: a change to its contents would go unnoticed"
    assert finding["severity"] == "warning"
    assert good not in codes_by_run(findings)
