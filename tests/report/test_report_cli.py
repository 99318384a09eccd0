"""`mlrepro report` as cron runs it, against real SQLite stores and git repositories: the page
for an empty store, one run and a registry; exit codes by --fail-on; escaping of everything
users typed; credentials redacted; unusable input is one line and exit 2."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_helpers import Repo, Store, free_port, git, register, running_mlflow_server
from report_helpers import Page, ReportCli, parse


def card(page: Page, name: str) -> str:
    element = page.by_id(f"card-{name}")
    assert element is not None, name
    return element.text.strip()


def test_an_empty_store_gets_a_friendly_page(store: Store, report: ReportCli, tmp_path: Path) -> None:
    history = tmp_path / "history"
    result = report(tmp_path, "--history", str(history), uri=store.uri)
    assert (result.code, result.out, result.err) == (0, "", "")
    page = parse(result.html)
    assert page.by_id("empty") is not None
    assert "No runs to audit yet" in page.text
    assert (card(page, "runs"), card(page, "score")) == ("0", "—")
    [night] = history.iterdir()
    data = json.loads(night.read_text())
    assert (data["summary"]["runs"], data["summary"]["score"], data["findings"]) == (0, None, [])


def test_one_clean_run(store: Store, repo: Repo, report: ReportCli) -> None:
    run_id = store.good_run(repo)
    result = report(repo.path, uri=store.uri)
    assert (result.code, result.err) == (0, "")
    page = parse(result.html)
    assert page.by_id("empty") is None
    assert card(page, "runs") == "1" and card(page, "score") == "100.0 %" and card(page, "errors") == "0"
    assert "No run has a finding." in page.by_id("runs").text  # type: ignore[union-attr]
    assert git(repo.path, "rev-parse", "HEAD")[:12] in page.text  # the repository commit in the header
    assert run_id not in result.html  # clean runs are counted, not detailed


def test_fail_on_sets_the_exit_code_and_json_junit_are_written(store: Store, repo: Repo, report: ReportCli, tmp_path: Path) -> None:
    # Two Production versions of clean runs: warnings only (MLR803).
    for _ in range(2):
        register(store.client, "churn", store.good_run(repo), stage="Production", trail=True)
    out = tmp_path / "out"
    result = report(repo.path, "--json", str(out / "a.json"), "--junit", str(out / "a.xml"), "--sarif", str(out / "a.sarif"), uri=store.uri)
    assert result.code == 1, result.err
    assert json.loads((out / "a.sarif").read_text())["version"] == "2.1.0"
    assert {(f["code"], f["severity"]) for f in json.loads((out / "a.json").read_text())} == {("MLR803", "warning")}
    assert ET.parse(out / "a.xml").getroot().tag == "testsuites"
    assert report(repo.path, "--fail-on", "warning", uri=store.uri).code == 1
    assert report(repo.path, "--fail-on", "error", uri=store.uri).code == 0
    (repo.path / "pyproject.toml").write_text('[tool.mlrepro.audit]\nfail-on = "error"\n')
    assert report(repo.path, uri=store.uri).code == 0
    assert report(repo.path, "--fail-on", "note", uri=store.uri).code == 1
    page = parse(result.html)
    registry = page.by_id("registry").text  # type: ignore[union-attr]
    assert "Production" in registry and "MLR803" in registry and "clean" in registry


SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def test_everything_users_typed_is_escaped(store: Store, repo: Repo, report: ReportCli) -> None:
    bad = store.run(name=SCRIPT, params={"lr": IMG, "seed": "</td></tr></table><script>alert(3)</script>"},
                    metrics={"acc": 0.5}, tags={"team": IMG, SCRIPT: "x"}, experiment=f"exp {SCRIPT}")
    model = "churn<img src=x onerror=alert(4)>"  # MLflow refuses '/' in model names
    register(store.client, model, bad, aliases=("champion",))
    result = report(repo.path, uri=store.uri)
    assert result.code == 1, result.err
    page = parse(result.html)
    assert page.tags("script") == [] and page.tags("img") == []
    assert not [e for e in page.elements if any(a.startswith("on") for a in e.attrs)]
    # As text, where a reader sees it: the run's heading, its params and tags, the registry.
    assert [e.text for e in page.with_class("run-name")] == [SCRIPT]
    run = page.by_id(f"run-{bad}")
    assert run is not None and IMG in run.text and "alert(3)" in run.text
    assert model in page.by_id("registry").text  # type: ignore[union-attr]
    assert f"exp {SCRIPT}" in page.by_id("experiments").text  # type: ignore[union-attr]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in result.html


def test_unusable_input_is_one_line_and_exit_2(store: Store, repo: Repo, report: ReportCli, tmp_path: Path) -> None:
    cases = [
        (("--tracking-uri", f"http://analyst:s3cret@127.0.0.1:{free_port()}"), "cannot reach the tracking store"),
        (("--tracking-uri", f"sqlite:///{tmp_path / 'nowhere.db'}"), "no MLflow database at"),
        (("--tracking-uri", store.uri, "--repo", str(tmp_path / "gone")), "not a git repository"),
        (("--tracking-uri", store.uri, "--max-reproductions", "2"), "--max-reproductions needs --reproduce"),
    ]
    for args, message in cases:
        result = report(repo.path, *args)
        assert (result.code, result.out, result.html) == (2, "", ""), (args, result)
        assert result.err.count("\n") == 1 and result.err.startswith("mlrepro: error: ") and message in result.err, result.err
        assert "s3cret" not in result.err and "Traceback" not in result.err
    assert not (tmp_path / "nowhere.db").exists()


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on SQLite; its http:// URI."""
    root = tmp_path_factory.mktemp("report-server")
    with running_mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root) as uri:
        yield uri


def test_credentials_in_the_tracking_uri_never_reach_the_page(tracking_server: str, report: ReportCli, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_server)
    experiment = client.create_experiment("churn")
    client.create_run(experiment, run_name="nightly")
    secret = tracking_server.replace("http://", "http://analyst:s3cret@")
    history = tmp_path / "history"
    result = report(tmp_path, "--history", str(history), "--json", str(tmp_path / "a.json"), uri=secret)
    assert result.code == 1, result.err
    assert "http://***@127.0.0.1" in parse(result.html).text
    for text in (result.html, result.err, *(p.read_text() for p in history.iterdir())):
        assert "s3cret" not in text
