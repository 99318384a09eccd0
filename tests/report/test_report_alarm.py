"""The served-model alarm: a model version in use whose source run fails the audit (an
error-level finding) or whose reproduction diverged is the first thing the page shows,
above the summary and the trends; a page without one has no alarm."""

from __future__ import annotations

from audit_helpers import GOOD_TAGS, Repo, Store, register
from report_helpers import Page, ReportCli, parse


def position(page: Page, ident: str) -> int:
    return next(i for i, e in enumerate(page.elements) if e.attrs.get("id") == ident)


def test_a_served_model_whose_run_fails_the_audit_is_an_alarm_above_the_trends(store: Store, repo: Repo, report: ReportCli) -> None:
    flawed = store.good_run(repo, name="untagged", tags={k: "" for k in GOOD_TAGS})  # MLR701, an error
    diverged = store.good_run(repo, name="diverged", tags={"mlrepro.reproduced.verdict": "diverged"})  # MLR901
    register(store.client, "churn", store.good_run(repo, name="clean"), aliases=("shadow",), trail=True)
    register(store.client, "churn", flawed, aliases=("champion",), trail=True)
    register(store.client, "fraud", diverged, stage="Production", trail=True)
    result = report(repo.path, uri=store.uri)
    assert result.code == 1, result.err
    page = parse(result.html)
    alarm = page.by_id("alarm")
    assert alarm is not None, "the page raises the alarm"
    assert position(page, "alarm") < position(page, "summary") < position(page, "trends")
    items = [e.text for e in page.elements if e.tag == "li" and "alarm-item" in e.attrs.get("class", "")]
    assert len(items) == 2, items
    champion = next(t for t in items if "churn" in t)
    assert "v2" in champion and "@champion" in champion and "MLR701" in champion and flawed[:12] in champion
    production = next(t for t in items if "fraud" in t)
    assert "Production" in production and "MLR901" in production and "diverged" in production
    assert "shadow" not in alarm.text  # the clean version serves without alarm


def test_no_alarm_when_every_served_model_is_sound(store: Store, repo: Repo, report: ReportCli) -> None:
    register(store.client, "churn", store.good_run(repo), aliases=("champion",), trail=True)
    store.good_run(repo, name="untagged", tags={k: "" for k in GOOD_TAGS})  # an error, but nothing serves it
    result = report(repo.path, uri=store.uri)
    assert result.code == 1
    page = parse(result.html)
    assert page.by_id("alarm") is None
