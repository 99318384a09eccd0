"""Reproductions on the page, from both places they come from: one recorded earlier by
`mlrepro reproduce --record`, one re-executed by `mlrepro report --reproduce` itself. Real
training script, real git repository, real SQLite store, real re-executions."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from audit_helpers import Store, init_repo, register
from mlrepro.cli import main
from report_helpers import ReportCli, parse
from training_helpers import TRAIN, run_training


def test_recorded_and_fresh_reproductions_are_charted(store: Store, tmp_path: Path, report: ReportCli, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = init_repo(tmp_path, {"train.py": TRAIN.format(seed="7", after="pass"), ".gitignore": "mlruns/\nmlartifacts/\n", "pyproject.toml": "[tool.mlrepro]\n"})
    seeded = run_training(store, repo)
    monkeypatch.chdir(repo.path)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["reproduce", seeded, "--record", "--tracking-uri", store.uri]) == 0, out.getvalue()
    repo.commit({"train.py": TRAIN.format(seed="None", after="pass")}, "drop the seed")
    unseeded = run_training(store, repo)
    register(store.client, "iris", unseeded, stage="Production")

    # The served model's run comes first among the candidates; one reproduction only.
    result = report(repo.path, "--reproduce", "--max-reproductions", "1", uri=store.uri)
    assert result.code == 1, result.err
    page = parse(result.html)
    panels = page.with_class("reproduction")
    assert len(panels) == 2
    texts = {("recorded" if "recorded by mlrepro reproduce" in p.text else "fresh"): p.text for p in panels}
    assert "identical" in texts["recorded"] and seeded[:12] in texts["recorded"]
    assert "diverged" in texts["fresh"] and unseeded[:12] in texts["fresh"] and "re-executed by this report" in texts["fresh"]
    # One chart per reproduction: a tolerance band, the original and the reproduced value per metric.
    charts = page.with_class("repro-chart")
    assert len(charts) == 2
    # accuracy, noise_mean, noise_sum each (train_time is a timing metric: not compared).
    assert len(page.with_class("band")) == 6 and len(page.with_class("original")) == 6 and len(page.with_class("reproduced")) == 6
    assert all("accuracy" in c.text and "noise_sum" in c.text and "train_time" not in c.text for c in charts)
    assert "diverged" in page.by_id("registry").text  # type: ignore[union-attr]
    assert page.by_id("card-reproductions").text.strip() == "2"  # type: ignore[union-attr]
