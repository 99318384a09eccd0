"""Two nights of `mlrepro report --history`: the trend charts both nights, the second page
lists what appeared and what was fixed since the first, and running a night again replaces
its file instead of adding one."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from audit_helpers import GOOD_TAGS, Repo, Store
from mlrepro.api import nightly_report
from report_helpers import parse

NIGHT_1 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
NIGHT_2 = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


def test_two_nights_give_a_trend_and_what_changed(store: Store, repo: Repo, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(repo.path)
    history, page = tmp_path / "history", tmp_path / "report.html"
    untagged = store.good_run(repo, name="untagged-run", tags={k: "" for k in GOOD_TAGS})
    store.good_run(repo, name="clean-run")
    first = nightly_report(repo.path, page, store.uri, history=history, now=NIGHT_1)
    assert {f.code for f in first.report.findings} == {"MLR701"}
    assert first.summary["score"] == 0.5

    # Overnight: the tags are fixed, and a new run forgets its seed.
    for key, value in GOOD_TAGS.items():
        store.client.set_tag(untagged, key, value)
    unseeded = store.good_run(repo, name="unseeded-run", params={"max_depth": "8"})
    second = nightly_report(repo.path, page, store.uri, history=history, now=NIGHT_2)
    assert {(f.code, f.run.run_id) for f in second.report.findings if f.run} == {("MLR506", unseeded)}
    assert sorted(p.name for p in history.iterdir()) == ["2026-11-27.json", "2026-11-28.json"]

    view = parse(page.read_text(encoding="utf-8"))
    new, resolved = view.by_id("new"), view.by_id("resolved")
    assert new is not None and resolved is not None
    assert "New (1)" in new.text and "MLR506" in new.text and "unseeded-run" in new.text
    assert "Resolved (1)" in resolved.text and "MLR701" in resolved.text and "untagged-run" in resolved.text
    assert "Compared with 2026-11-27" in view.by_id("changes").text  # type: ignore[union-attr]
    # The trend: one stacked bar (a single error) and one score point per night.
    findings_chart, score_chart = view.by_id("chart-findings"), view.by_id("chart-score")
    assert findings_chart is not None and score_chart is not None
    bars = [e for e in view.tags("rect") if e.attrs.get("class", "").startswith("bar-")]
    assert [b.attrs["class"] for b in bars] == ["bar-error", "bar-error"]
    assert len(view.with_class("score-point")) == 2 and view.with_class("score-line")
    assert "11-27" in findings_chart.text and "11-28" in findings_chart.text

    # The same night again (a retried cron job): its file is replaced, the trend still has two nights.
    store.client.set_tag(unseeded, "mlrepro.seed", "7")
    again = nightly_report(repo.path, page, store.uri, history=history, now=NIGHT_2)
    assert again.report.findings == [] and again.summary["score"] == 1.0
    assert sorted(p.name for p in history.iterdir()) == ["2026-11-27.json", "2026-11-28.json"]
    saved = json.loads((history / "2026-11-28.json").read_text())
    assert (saved["summary"]["score"], saved["findings"]) == (1.0, [])
    view = parse(page.read_text(encoding="utf-8"))
    assert "New (0)" in view.by_id("new").text and "Resolved (1)" in view.by_id("resolved").text  # type: ignore[union-attr]
    assert len(view.with_class("score-point")) == 2


def test_damaged_and_foreign_nights_do_not_stop_the_report(store: Store, repo: Repo, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(repo.path)
    history = tmp_path / "history"
    history.mkdir()
    # Written by some other version: odd summary values, a finding without the usual fields.
    foreign = {"date": "2026-11-24", "summary": {"score": "high", "findings": {"error": "many"}}, "findings": [{"code": "MLR000", "message": "old rule"}, 5]}
    (history / "2026-11-24.json").write_text(json.dumps(foreign))
    (history / "2026-11-26.json").write_text('{"schema": 1, "date": "2026-11-26", "summ')  # killed mid-write
    (history / "notes.txt").write_text("not a night")
    store.good_run(repo)
    result = nightly_report(repo.path, tmp_path / "r.html", store.uri, history=history, now=NIGHT_1)
    view = parse(result.html_path.read_text(encoding="utf-8"))
    assert len(view.with_class("score-point")) == 1  # the foreign night's score is unreadable, the damaged night absent
    chart = view.by_id("chart-findings")
    assert chart is not None and "11-24" in chart.text and "11-26" not in chart.text
    assert "Compared with 2026-11-24" in view.by_id("changes").text  # type: ignore[union-attr]
    assert "MLR000" in view.by_id("resolved").text  # type: ignore[union-attr]


DEEP = "[" * 100_000 + "]" * 100_000  # Python's JSON reader gives up at about 1,000 levels


def test_a_deeply_nested_night_is_skipped_with_a_note_on_the_page_and_on_stderr(store: Store, repo: Repo, tmp_path: Path, report) -> None:  # type: ignore[no-untyped-def]
    history = tmp_path / "history"
    history.mkdir()
    good = {"schema": 1, "date": "2026-11-20", "summary": {"score": 1.0, "findings": {"error": 0}}, "findings": []}
    (history / "2026-11-20.json").write_text(json.dumps(good))
    (history / "2026-11-24.json").write_text(DEEP)  # an older night: only its summary is read
    (history / "2026-11-25.json").write_text('{"schema": 1, "date": "2026-11-25", "summary": ' + DEEP + "}")
    (history / "2026-11-26.json").write_text(json.dumps({**good, "date": "2026-11-26"})[:-2] + DEEP + "]}")  # the latest: read in full
    store.good_run(repo)
    result = report(repo.path, "--history", str(history), uri=store.uri)
    assert result.code == 0, result.err
    view = parse(result.html)
    note = view.by_id("history-skipped")
    assert note is not None, "the page says which nights it left out"
    for name in ("2026-11-24.json", "2026-11-25.json", "2026-11-26.json"):
        assert name in note.text
        assert f"mlrepro: warning: history: skipped {name}: " in result.err
    assert "2026-11-20" not in note.text
    assert result.err.count("\n") == 3 and "Traceback" not in result.err
    # The newest readable night is the one the page compares with.
    assert "Compared with 2026-11-20" in view.by_id("changes").text  # type: ignore[union-attr]
