"""Run the demo project's scripts as real processes of this Python, a batch at a time.

Each is what a team member would type (``python train.py --seed 42``), with the tracking URI
in the environment; the capture plugin and ``tracked_run`` record the runs as they would for
anyone. Scripts of one batch run concurrently: each spends most of its time importing MLflow
(seconds), which two cores do side by side.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlrepro.demo.project import DemoError, DemoProject

# Leaked from a caller's own run or audit, these would steer the scripts' runs elsewhere.
_INHERITED = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLREPRO_", "PYTHONHASHSEED")
_RUN_LINE = re.compile(r"^run ([0-9a-f]{32})$", re.MULTILINE)
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Script:
    """One command of the scenario: ``python <argv...>`` in the project directory."""

    key: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    expected_exit: int = 0  # the simulated crash exits 137, as an out-of-memory kill does


@dataclass(frozen=True)
class Finished:
    script: Script
    returncode: int
    seconds: float
    output: str
    log: Path

    @property
    def run_id(self) -> str | None:
        """The MLflow run the script printed it started (the project's scripts print it first)."""
        found = _RUN_LINE.search(self.output)
        return found.group(1) if found else None


def script_env(project: DemoProject) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED)}
    # No usage telemetry: the demo promises to need no network.
    env.update({
        "MLFLOW_TRACKING_URI": project.tracking_uri, "GIT_PYTHON_REFRESH": "quiet", "PYTHONUNBUFFERED": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
    })
    return env


def run_batch(project: DemoProject, scripts: Sequence[Script], python: str = sys.executable) -> dict[str, Finished]:
    """Start every script at once, wait for all; raise DemoError naming the log of any that
    exited otherwise than expected."""
    logs = project.root / "logs"
    logs.mkdir(exist_ok=True)
    started: list[tuple[Script, subprocess.Popen[bytes], Path, float]] = []
    try:
        for script in scripts:
            log = logs / f"{script.key}.log"
            with log.open("wb") as out:  # the child keeps its own handle
                process = subprocess.Popen(
                    [python, *script.argv], cwd=project.root, env={**script_env(project), **script.env},
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                )
            started.append((script, process, log, time.monotonic()))
        finished: dict[str, Finished] = {}
        for script, process, log, start in started:
            try:
                code = process.wait(timeout=max(1.0, TIMEOUT_S - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                raise DemoError(f"`python {' '.join(script.argv)}` took more than {TIMEOUT_S:g} s (log: {log})") from None
            output = log.read_text(encoding="utf-8", errors="replace")
            finished[script.key] = Finished(script, code, time.monotonic() - start, output, log)
    finally:
        for _, process, _, _ in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    for done in finished.values():
        if done.returncode != done.script.expected_exit:
            last = (done.output.strip().splitlines() or ["no output"])[-1]
            raise DemoError(f"`python {' '.join(done.script.argv)}` exited {done.returncode}: {last} (log: {done.log})")
    return finished
