"""`mlrepro demo` end to end: the real command, once, in a fresh process (it trains six real
runs, registers a model, reproduces two runs and writes the report), then checks of what it
left behind, read back through MLflow's own client and git. Plus the directory guard."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from audit_helpers import git

RUN_LINE = re.compile(r"^  run ([0-9a-f]{32})  (\S+) ", re.MULTILINE)
KEYS = ("good", "oversized", "unseeded", "missing-tags", "crashed", "dirty")
# The mistakes planted, as the audit names them (registry findings are the model version's).
EXPECTED_CODES = {
    "good": set(),
    "oversized": {"MLR704"},
    # MLR901: the verdict `reproduce --record` left on it.
    "unseeded": {"MLR506", "MLR702", "MLR901"},
    "missing-tags": {"MLR506", "MLR601", "MLR701"},
    "crashed": {"MLR707"},
    "dirty": {"MLR504"},
}


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLREPRO_", "PYTHONHASHSEED"))}
    env["GIT_PYTHON_REFRESH"] = "quiet"
    return env


def run_demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlrepro", "demo", *args], check=False, cwd=cwd, env=demo_env(), capture_output=True, text=True, timeout=600)


@dataclass
class Demo:
    root: Path
    done: subprocess.CompletedProcess[str]
    seconds: float
    runs: dict[str, str]  # key -> run id
    client: Any

    @property
    def findings(self) -> list[dict[str, Any]]:
        return json.loads((self.root / "report.json").read_text())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    from mlflow import MlflowClient

    cwd = tmp_path_factory.mktemp("demo-cwd")
    start = time.monotonic()
    done = run_demo("--dir", "team-project", cwd=cwd)
    seconds = time.monotonic() - start
    root = cwd / "team-project"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    print(f"mlrepro demo took {seconds:.1f} s")
    return Demo(root, done, seconds, {key: run_id for run_id, key in RUN_LINE.findall(done.stdout)}, MlflowClient(uri, uri))


def test_the_demo_succeeds_and_says_where_the_report_is(demo: Demo) -> None:
    assert demo.done.returncode == 0, demo.done.stdout[-3000:] + demo.done.stderr[-3000:]
    assert "Traceback" not in demo.done.stderr
    assert f"Report: {demo.root / 'report.html'}" in demo.done.stdout
    assert set(demo.runs) == set(KEYS), demo.done.stdout


def test_the_store_holds_the_runs_with_their_statuses(demo: Demo) -> None:
    statuses = {key: demo.client.get_run(run_id).info.status for key, run_id in demo.runs.items()}
    assert statuses == {key: "RUNNING" if key == "crashed" else "FINISHED" for key in KEYS}
    experiment = demo.client.get_experiment_by_name("tumor-classifier")
    everything = demo.client.search_runs([experiment.experiment_id])
    reproductions = {r.data.tags.get("mlrepro.reproduces") for r in everything} - {None}
    assert reproductions == {demo.runs["good"], demo.runs["unseeded"]}
    assert len(everything) == len(KEYS) + 2
    # The guarded runs carry the seed and the capture; the dirty one its diff.
    good = demo.client.get_run(demo.runs["good"]).data
    assert good.params["seed"] == "42" and good.tags["mlrepro.git.dirty"] == "false"
    assert demo.client.get_run(demo.runs["dirty"]).data.tags["mlrepro.git.dirty"] == "true"
    assert "seed" not in demo.client.get_run(demo.runs["unseeded"]).data.params


def test_the_model_in_production_comes_from_the_unseeded_run(demo: Demo) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        [version] = demo.client.search_model_versions("name = 'tumor-classifier'")
    assert (str(version.version), version.run_id, version.current_stage) == ("1", demo.runs["unseeded"], "Production")
    aliases = demo.client.get_registered_model("tumor-classifier").aliases
    assert {alias: str(number) for alias, number in aliases.items()} == {"champion": "1"}  # an int on SQLite


def test_the_audit_finds_exactly_the_planted_mistakes(demo: Demo) -> None:
    by_run: dict[str, set[str]] = {}
    for finding in demo.findings:
        if finding.get("model"):
            by_run.setdefault(finding["model"], set()).add(finding["code"])
        else:
            by_run.setdefault(finding["run_id"], set()).add(finding["code"])
    assert {key: by_run.get(run_id, set()) for key, run_id in demo.runs.items()} == EXPECTED_CODES
    # Served from a run with errors, and put there by hand, around `mlrepro promote`.
    assert by_run["tumor-classifier/1"] == {"MLR801", "MLR804"}


def test_the_seeded_run_reproduces_and_the_unseeded_one_diverges(demo: Demo) -> None:
    verdicts = {key: demo.client.get_run(demo.runs[key]).data.tags.get("mlrepro.reproduced.verdict") for key in ("good", "unseeded")}
    assert verdicts == {"good": "identical", "unseeded": "diverged"}
    assert "good run identical, unseeded run diverged" in demo.done.stdout


def test_the_report_names_the_runs_and_the_verdicts(demo: Demo) -> None:
    html = (demo.root / "report.html").read_text()
    for key in KEYS:
        assert demo.runs[key][:12] in html, key  # the report shortens ids where they only point
    assert "rf-100-depth5" in html and "rf-quick-check" in html and "tumor-classifier" in html and "champion" in html
    assert "identical" in html and "diverged" in html
    assert len(list((demo.root / "history").glob("*.json"))) == 1


def test_the_repository_is_left_clean_pushed_and_linted(demo: Demo) -> None:
    assert git(demo.root, "status", "--porcelain") == ""
    assert git(demo.root, "rev-parse", "HEAD") == git(demo.root, "rev-parse", "origin/main")
    assert len(git(demo.root, "worktree", "list").splitlines()) == 1, "the reproductions' worktrees are gone"
    assert re.search(r"What lint found in the code \([1-9]\d* findings", demo.done.stdout)
    assert re.search(r"^  baseline\.py:\d+ +MLR103 ", demo.done.stdout, re.MULTILINE)
    # The audit can be run again by hand from the demo directory, with no options.
    again = subprocess.run([sys.executable, "-m", "mlrepro", "audit", "--output-format", "json", "-q"], check=False, cwd=demo.root, env=demo_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and {f["code"] for f in json.loads(again.stdout)} >= {"MLR504", "MLR704", "MLR707", "MLR801", "MLR901"}


def test_a_non_empty_directory_that_is_no_demo_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "work"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    done = run_demo("--dir", str(target), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "not empty and is not a previous mlrepro demo" in done.stderr
    assert [p.name for p in target.iterdir()] == ["thesis.tex"]
    assert (target / "thesis.tex").read_text() == "precious"
    done = run_demo("--dir", str(target / "thesis.tex"), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("mlrepro: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "is a file, not a directory" in done.stderr and (target / "thesis.tex").read_text() == "precious"


def test_a_previous_demo_is_replaced_and_a_file_is_refused(tmp_path: Path) -> None:
    from mlrepro.demo.project import MARKER, DemoError, prepare_directory

    previous = tmp_path / "old-demo"
    (previous / "mlruns" / "0").mkdir(parents=True)
    (previous / MARKER).write_text("")
    (previous / "mlflow.db").write_bytes(b"old")
    assert prepare_directory(previous) is True
    assert [p.name for p in previous.iterdir()] == [MARKER]
    assert prepare_directory(tmp_path / "new" / "demo") is False
    (tmp_path / "file").write_text("")
    with pytest.raises(DemoError, match="is a file"):
        prepare_directory(tmp_path / "file")


def test_missing_packages_are_named_with_the_extra_to_install() -> None:
    from mlrepro.demo.scenario import REQUIREMENTS, missing_packages

    assert missing_packages() == []  # the test extra includes the demo extra
    assert missing_packages({**REQUIREMENTS, "mlrepro_no_such_module": "no-such-package"}) == ["no-such-package"]


def test_the_demos_next_step_reproduces_from_its_directory(demo: Demo) -> None:
    # Last in this file: it adds a reproduction run to the store the tests above count.
    # The demo ends with "cd there and try `mlrepro reproduce RUN_ID`": MLflow's default store,
    # the relative `sqlite:///mlflow.db`, which names an empty database in the temporary worktree.
    done = subprocess.run(
        [sys.executable, "-m", "mlrepro", "reproduce", demo.runs["good"], "--output-format", "json"],
        cwd=demo.root, env=demo_env(), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(done.stdout)["verdict"] == "identical"
