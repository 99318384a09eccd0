"""`mlrepro report` over a store holding runs of several repositories (#13): ``--repo`` may be
given once per repository, as for audit, and runs of a repository not audited are not checked
against the one that is: the page says so, and the night's history counts them."""

from __future__ import annotations

import json
from pathlib import Path

from audit_helpers import Repo, Store, init_repo
from report_helpers import ReportCli, parse

URL = "mlflow.source.git.repoURL"
LOST = "1" * 40  # a commit no repository holds: MLR502 says so, naming the repository it looked in


def project(tmp_path: Path, name: str) -> Repo:
    return init_repo(tmp_path / name, {"train.py": "print('train')\n", "data/train.csv": "x,y\n1,0\n"})


def test_report_accepts_repo_again_and_shows_what_was_not_checked(tmp_path: Path, store: Store, report: ReportCli) -> None:
    ours, theirs = project(tmp_path, "ours"), project(tmp_path, "theirs")
    store.good_run(ours, tags={URL: str(ours.origin)})
    store.good_run(theirs, tags={URL: str(theirs.origin)})
    ours_lost = store.good_run(ours, tags={URL: str(ours.origin), "mlflow.source.git.commit": LOST})
    theirs_lost = store.good_run(theirs, tags={URL: str(theirs.origin), "mlflow.source.git.commit": LOST})
    history = tmp_path / "history"

    # Audited from ours alone: theirs is not checked, and the page and the history say so.
    done = report(ours.path, "--history", str(history), uri=store.uri)
    assert done.code in (0, 1), done.err
    notes = parse(done.html).with_class("not-checked")
    assert len(notes) == 1 and "2 runs of" in notes[0].text and str(theirs.origin) in notes[0].text, notes
    [night] = [json.loads(p.read_text()) for p in history.glob("*.json")]
    assert night["summary"]["not_checked"] == 2

    # --repo twice: each run against its own repository, nothing left unchecked.
    json_path = tmp_path / "out" / "report.json"
    done = report(tmp_path, "--history", str(history), "--repo", str(ours.path), "--repo", str(theirs.path), "--json", str(json_path), uri=store.uri)
    assert done.code in (0, 1), done.err
    assert parse(done.html).with_class("not-checked") == []
    [night] = [json.loads(p.read_text()) for p in history.glob("*.json")]
    assert night["summary"]["not_checked"] == 0
    lost = {f["run_id"]: f["message"] for f in json.loads(json_path.read_text()) if f["code"] == "MLR502"}
    assert set(lost) == {ours_lost, theirs_lost}, lost
    assert str(theirs.path.resolve()) in lost[theirs_lost] and str(ours.path.resolve()) in lost[ours_lost], lost
