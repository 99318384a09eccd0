"""The reproduction runner, on real subprocesses: exit codes, log tail, timeouts, argv, env."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlrepro.reproduce.runner import (
    TAIL_BYTES,
    TAIL_LINES,
    Execution,
    _group_alive,
    child_env,
    execute,
)

# Writes a pid file atomically so the test never reads a half-written one.
WRITE_PID = textwrap.dedent(
    """
    import os, sys
    def write_pid(path, pid):
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(pid))
        os.replace(tmp, path)
    """
)
SPAWN_GRANDCHILD = WRITE_PID + textwrap.dedent(
    """
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", GRANDCHILD])
    write_pid(sys.argv[1], child.pid)
    """
)


def _run(tmp_path: Path, code: str, *args: str, timeout: float = 30, **kwargs: float) -> Execution:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    env = child_env(os.environ, {"PYTHONUNBUFFERED": "1"})
    return execute([sys.executable, str(script), *args], tmp_path, env, timeout, **kwargs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]  # a zombie is dead, only not yet reaped


def _assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 3
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"process {pid} survived"


def test_exit_zero_keeps_output_and_runs_in_cwd(tmp_path: Path) -> None:
    result = _run(tmp_path, "import os; print('hello'); print(os.getcwd())")

    assert (result.returncode, result.timed_out) == (0, False)
    assert result.log_tail.splitlines() == ["hello", str(tmp_path)]
    assert 0 < result.duration_s < 10


def test_nonzero_exit_code_is_kept_with_stdout_and_stderr(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        """
        import sys
        print("training...")
        sys.stderr.write("boom: bad data\\n")
        sys.exit(3)
        """,
    )

    assert result.returncode == 3
    assert not result.timed_out
    assert "training..." in result.log_tail
    assert "boom: bad data" in result.log_tail


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = f"GRANDCHILD = 'import time; time.sleep(60)'\n{SPAWN_GRANDCHILD}\nimport time; time.sleep(60)\n"

    started = time.monotonic()
    result = _run(tmp_path, code, str(pid_file), timeout=1)
    elapsed = time.monotonic() - started

    assert result.timed_out
    assert result.returncode is None
    assert elapsed < 4  # both die on SIGTERM: no need to wait out the grace period
    assert 1 <= result.duration_s <= elapsed
    _assert_gone(int(pid_file.read_text()))


def test_a_script_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    pid_file = tmp_path / "script.pid"
    code = WRITE_PID + textwrap.dedent(
        """
        import signal, time
        signal.signal(signal.SIGTERM, lambda *_: print("SIGTERM ignored", flush=True))
        write_pid(sys.argv[1], os.getpid())
        while True:
            time.sleep(0.1)
        """
    )

    result = _run(tmp_path, code, str(pid_file), timeout=2)  # default grace: 5 s

    assert result.timed_out
    assert "SIGTERM ignored" in result.log_tail
    assert 2 + 5 <= result.duration_s < 2 + 5 + 4
    _assert_gone(int(pid_file.read_text()))


def test_a_grandchild_ignoring_sigterm_is_killed_even_when_the_leader_exits(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    grandchild = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    code = f"GRANDCHILD = {grandchild!r}\n{SPAWN_GRANDCHILD}\nimport time; time.sleep(60)\n"

    result = _run(tmp_path, code, str(pid_file), timeout=1, kill_grace_s=1)

    assert result.timed_out
    assert result.duration_s >= 1 + 1  # waited for the grandchild, not only the leader
    _assert_gone(int(pid_file.read_text()))


def test_processes_left_behind_after_a_normal_exit_are_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = f"GRANDCHILD = 'import time; time.sleep(60)'\n{SPAWN_GRANDCHILD}\nprint('done')\n"

    result = _run(tmp_path, code, str(pid_file), kill_grace_s=1)

    assert result.returncode == 0
    assert not result.timed_out
    assert "done" in result.log_tail
    _assert_gone(int(pid_file.read_text()))


def test_ctrl_c_kills_the_group_and_is_re_raised(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = f"GRANDCHILD = 'import time; time.sleep(60)'\n{SPAWN_GRANDCHILD}\nimport time; time.sleep(60)\n"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)  # a real signal, as Ctrl-C delivers SIGINT
    try:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path, code, str(pid_file), timeout=30)
        assert time.monotonic() - started < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    _assert_gone(int(pid_file.read_text()))


def test_argv_items_arrive_verbatim_never_through_a_shell(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "keep.txt").write_text("precious")
    out = tmp_path / "argv.json"
    items = ["; rm -rf ~", "with spaces 'single' \"double\"", "$HOME", "*", "`id`", "", "a\\b"]
    script = tmp_path / "echo_argv.py"
    script.write_text("import json, sys\nopen(sys.argv[1], 'w').write(json.dumps(sys.argv))\n")

    # HOME points at a scratch dir: were this ever handed to a shell, only it would be at risk.
    env = child_env(os.environ, {"HOME": str(home)})
    result = execute([sys.executable, str(script), str(out), *items], tmp_path, env, 30)

    assert result.returncode == 0, result.log_tail
    assert json.loads(out.read_text()) == [str(script), str(out), *items]
    assert (home / "keep.txt").read_text() == "precious"


def test_log_tail_keeps_only_the_last_lines(tmp_path: Path) -> None:
    result = _run(tmp_path, "for i in range(1000): print(f'line {i}')")

    assert result.log_tail.splitlines() == [f"line {i}" for i in range(1000 - TAIL_LINES, 1000)]


def test_log_tail_is_capped_in_size_at_a_line_boundary(tmp_path: Path) -> None:
    result = _run(tmp_path, "for i in range(100): print(f'{i:04d}' + 'x' * 996)")

    lines = result.log_tail.splitlines()
    assert len(result.log_tail) <= TAIL_BYTES
    assert lines[-1] == "0099" + "x" * 996
    assert all(len(line) == 1000 for line in lines)  # no fragment of a cut line
    assert len(lines) == TAIL_BYTES // 1001


def test_log_tail_of_one_enormous_line_is_its_end(tmp_path: Path) -> None:
    result = _run(tmp_path, "import sys; sys.stdout.write('a' * 50_000 + 'END')")

    assert len(result.log_tail) == TAIL_BYTES
    assert result.log_tail.endswith("aEND")


def test_child_sees_overrides_and_not_the_stale_mlflow_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLREPRO_TEST_ONLY_IN_PARENT", "leak")
    stale = {"MLFLOW_RUN_ID": "stale-run", "MLFLOW_EXPERIMENT_NAME": "other", "KEEP_ME": "1"}
    base = {**os.environ, **stale}
    del base["MLREPRO_TEST_ONLY_IN_PARENT"]
    out = tmp_path / "env.json"
    env = child_env(base, {"MLREPRO_SEED": "7", "PYTHONHASHSEED": "0"})

    result = _run_env(tmp_path, out, env)

    seen = json.loads(out.read_text())
    assert result.returncode == 0, result.log_tail
    assert seen["MLREPRO_SEED"] == "7"
    assert seen["PYTHONHASHSEED"] == "0"
    assert seen["KEEP_ME"] == "1"
    assert "MLFLOW_RUN_ID" not in seen
    assert "MLFLOW_EXPERIMENT_NAME" not in seen
    assert "MLREPRO_TEST_ONLY_IN_PARENT" not in seen  # env is the complete environment


def test_child_sees_the_run_id_given_in_overrides(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    env = child_env({**os.environ, "MLFLOW_RUN_ID": "stale-run"}, {"MLFLOW_RUN_ID": "new-run"})

    _run_env(tmp_path, out, env)

    assert json.loads(out.read_text())["MLFLOW_RUN_ID"] == "new-run"


def _run_env(tmp_path: Path, out: Path, env: dict[str, str]) -> Execution:
    script = tmp_path / "dump_env.py"
    script.write_text("import json, os, sys\nopen(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))\n")
    return execute([sys.executable, str(script), str(out)], tmp_path, env, 30)


def test_child_env_drops_every_run_selection_variable_and_leaves_base_alone() -> None:
    base = {"PATH": "/bin", "MLFLOW_RUN_ID": "r", "MLFLOW_EXPERIMENT_ID": "1"}
    base["MLFLOW_EXPERIMENT_NAME"] = "e"

    env = child_env(base, {"MLFLOW_EXPERIMENT_ID": "2", "MLFLOW_TRACKING_URI": "sqlite:///x.db"})

    assert env == {"PATH": "/bin", "MLFLOW_EXPERIMENT_ID": "2", "MLFLOW_TRACKING_URI": "sqlite:///x.db"}
    assert base["MLFLOW_RUN_ID"] == "r"


def test_empty_argv_and_missing_executable_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="argv is empty"):
        execute([], tmp_path, dict(os.environ), 5)
    with pytest.raises(FileNotFoundError):
        execute([str(tmp_path / "no-such-program")], tmp_path, dict(os.environ), 5)


def test_a_group_of_only_zombies_counts_as_finished() -> None:
    # Left unreaped on purpose: exited, a zombie until we wait for it.
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while _alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert Path(f"/proc/{proc.pid}/stat").exists()  # still there, as a zombie
        assert not _group_alive(proc.pid)
    finally:
        proc.wait()
    assert not _group_alive(proc.pid)
