"""The demo's story: which runs the team made, with which mistakes, in which order; then the
checks a team would run the next morning. Progress goes to a callback; nothing prints.

The order follows what each mistake needs of the repository. The store is created first
(five runs then start at once, and each would otherwise race to create its schema); the
runs of the committed code train side by side; then the uncommitted edit is made, and only
the dirty run trains while it is there (every run started on a dirty tree records the edit),
next to the reproductions, which check out their commit in worktrees of their own.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlrepro.demo.project import DemoError, DemoProject, create_project, prepare_directory
from mlrepro.demo.training import Finished, Script, run_batch

if TYPE_CHECKING:
    from mlrepro.formatters import Report
    from mlrepro.nightly.model import NightlyReport
    from mlrepro.reproduce.engine import ReproResult

MODEL = EXPERIMENT = "tumor-classifier"
TEAM_TAGS = ("model_type=random_forest", "dataset_version=sklearn-breast-cancer", "team=diagnostics", "purpose=nightly retrain")
REPRODUCTION_TIMEOUT_S = 300.0
# What the demo's steps import (module -> the package that installs it): `mlrepro[demo]`.
REQUIREMENTS = {"mlflow": "mlflow", "sklearn": "scikit-learn", "git": "GitPython", "jinja2": "Jinja2", "deepdiff": "deepdiff"}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PlannedRun:
    key: str
    script: Script
    story: str  # what the team did, and what is wrong with it (if anything)


def _tags(*pairs: str) -> tuple[str, ...]:
    return tuple(arg for pair in pairs for arg in ("--tag", pair))


GOOD = PlannedRun("good", Script("good", ("train.py", "--n-estimators", "100", "--max-depth", "5", "--seed", "42")),
                  "clean: train.py through tracked_run, seed 42, committed and pushed")
OVERSIZED = PlannedRun("oversized", Script("oversized", ("train.py", "--n-estimators", "500", "--max-depth", "0", "--seed", "42")),
                       "oversized artifact: 500 fully grown trees, a model above the policy's 1 MB")
UNSEEDED = PlannedRun("unseeded", Script("unseeded", ("baseline.py", *_tags(*TEAM_TAGS))),
                      "no seed: baseline.py, unnamed, every tag given; its model is served as champion")
MISSING_TAGS = PlannedRun("missing-tags", Script("missing-tags", ("baseline.py", "--run-name", "rf-quick-check", *_tags("team=diagnostics"))),
                          "missing tags: baseline.py with only a team tag (and no seed)")
CRASHED = PlannedRun("crashed", Script("crashed", ("train.py", "--n-estimators", "200", "--seed", "7"), {"DEMO_KILL_AT_STEP": "1"}, expected_exit=137),
                     "crashed: killed mid-training (os._exit), the run is left RUNNING")
DIRTY = PlannedRun("dirty", Script("dirty", ("train.py", "--n-estimators", "150", "--seed", "42")),
                   "dirty tree: train.py edited (test_size 0.25 -> 0.2) and run without committing")
RUNS = (GOOD, OVERSIZED, UNSEEDED, MISSING_TAGS, CRASHED, DIRTY)
# The uncommitted edit of the dirty run.
DIRTY_EDIT = ("train.py", "test_size=0.25", "test_size=0.2")


@dataclass(frozen=True)
class DemoRun:
    key: str
    story: str
    command: str
    run_id: str
    exit_code: int
    seconds: float


@dataclass
class DemoResult:
    directory: Path
    tracking_uri: str
    replaced: bool
    runs: list[DemoRun]
    model: str  # the registered model
    versions: dict[str, str]  # its versions -> the key of the run each came from
    lint: Report
    audit: Report
    reproductions: dict[str, ReproResult]  # run key -> verdict and metrics
    report_path: Path
    nightly: NightlyReport  # the report's summary and where the HTML went
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, key: str) -> DemoRun:
        return next(r for r in self.runs if r.key == key)

    def codes(self, key: str) -> list[str]:
        """The audit's rule codes for one of the demo's runs (sorted, each once); registry
        findings, which name the run as a model version's source, are the versions'."""
        run_id = self.run(key).run_id
        return sorted({f.code for f in self.audit.findings if f.run and f.run.run_id == run_id and not f.run.model})


def _registered(done: Finished) -> str:
    version = done.output.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    if not version.isdigit():
        raise DemoError(f"register.py printed no version (log: {done.log})")
    return version


def missing_packages(requirements: Mapping[str, str] = REQUIREMENTS) -> list[str]:
    """The packages of ``requirements`` that are not installed (found without importing them)."""
    return [package for module, package in requirements.items() if importlib.util.find_spec(module) is None]


def build_demo(directory: Path, progress: Progress | None = None) -> DemoResult:
    """Build the project, make its runs for real, lint it, reproduce two runs (the verdicts
    recorded on them), then audit and write the HTML report into ``directory``."""
    missing = missing_packages()
    if missing:
        # Before anything is written: a half-built demo would only hide the one thing to do.
        raise DemoError(f"the demo needs {', '.join(missing)}: pip install 'mlrepro[demo]'")
    say = progress or (lambda message: None)
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.monotonic()
        timings[name] = now - since
        return now

    root = directory.resolve()
    replaced = prepare_directory(root)
    if replaced:
        say(f"replacing the previous demo in {root}")
    project = create_project(root)
    say(f"project: a git repository in {root} with train.py, baseline.py, register.py and the team policy (pyproject.toml), pushed to origin.git")
    clock = lap("project", started)

    from mlrepro.api import lint_report, nightly_report

    lint = lint_report([root], root)
    say(f"lint: {_count(len(lint.findings), 'finding')} in the project's code (`mlrepro lint`)")
    clock = lap("lint", clock)

    made: dict[str, Finished] = {}

    def trained(batch: dict[str, Finished]) -> None:
        made.update(batch)
        for planned in RUNS:
            if planned.key in batch:
                done = batch[planned.key]
                say(f"run {done.run_id or '?'}  {planned.key:<13} {planned.story} ({done.seconds:.0f} s)")

    from mlrepro.sources.mlflow_store import create_sqlite_store

    # Created here, not by the first run: five runs start at once, and each would try to
    # create the schema and the experiment itself.
    create_sqlite_store(root / "mlflow.db", {EXPERIMENT: root / "mlruns"})
    say(f"tracking store: {project.tracking_uri}, experiment {EXPERIMENT!r}")
    clock = lap("store", clock)

    say("training for real, one `python ...` process per run, as the team did:")
    trained(run_batch(project, [GOOD.script, OVERSIZED.script, UNSEEDED.script, MISSING_TAGS.script, CRASHED.script]))
    good_id, unseeded_id = _run_id(made["good"]), _run_id(made["unseeded"])
    clock = lap("runs", clock)

    # The reproductions check out their commit in worktrees of their own, so they need not
    # wait for the dirty run: all of it runs at once.
    say("reproducing the good and the unseeded run at their commits (`mlrepro reproduce --record`) while the last run trains")
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mlrepro-demo") as pool:
        reproducing = {key: pool.submit(_reproduce, project, run_id) for key, run_id in (("good", good_id), ("unseeded", unseeded_id))}
        project.edit(*DIRTY_EDIT)
        try:
            batch = run_batch(project, [
                DIRTY.script,
                Script("register", ("register.py", unseeded_id, "--stage", "Production", "--alias", "champion")),
            ])
        finally:
            project.restore(DIRTY_EDIT[0])
        trained(batch)
        version = _registered(batch["register"])
        say(f"registered {MODEL} version {version} from the unseeded run, stage Production and alias champion, by hand (register.py)")
        reproductions = {key: future.result() for key, future in reproducing.items()}
    for key, result in reproductions.items():
        say(f"reproduced the {key} run {result.run_id}: {result.verdict} ({result.duration_s:.0f} s)")
    clock = lap("last run and reproductions", clock)

    report_path = root / "report.html"
    nightly = nightly_report(root, report_path, project.tracking_uri, repo=root, history=root / "history", json_path=root / "report.json")
    audit = nightly.report
    flagged = {f.run.run_id for f in audit.findings if f.run and f.run.run_id}
    say(f"audit: {_count(len(audit.findings), 'finding')} on {_count(len(flagged), 'run')} and the registry (`mlrepro audit`)")
    say(f"report: {report_path}")
    lap("audit and report", clock)

    runs = [
        DemoRun(p.key, p.story, "python " + " ".join(p.script.argv), _run_id(made[p.key]), made[p.key].returncode, made[p.key].seconds)
        for p in RUNS
    ]
    versions = {version: "unseeded"}
    return DemoResult(
        directory=root, tracking_uri=project.tracking_uri, replaced=replaced, runs=runs, model=MODEL, versions=versions, lint=lint,
        audit=audit, reproductions=reproductions, report_path=report_path, nightly=nightly,
        seconds=time.monotonic() - started, timings=timings,
    )


def _run_id(done: Finished) -> str:
    if done.run_id is None:
        raise DemoError(f"`python {' '.join(done.script.argv)}` printed no run id (log: {done.log})")
    return done.run_id


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _reproduce(project: DemoProject, run_id: str) -> ReproResult:
    """``mlrepro reproduce RUN_ID --record``: in a worktree of its own, the verdict recorded on the run."""
    from mlrepro.reproduce.engine import reproduce_run
    from mlrepro.sources.mlflow_store import MlflowStore

    return reproduce_run(MlflowStore.open(project.tracking_uri, writable=True), run_id, project.root, REPRODUCTION_TIMEOUT_S, record=True)
