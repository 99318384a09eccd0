"""A real local Ray cluster for the ``--executor ray`` tests and benchmark: a head node and a
second node, both ``ray start`` processes on 127.0.0.1, each with a temp dir of its own.

Stopped by process id, not ``ray stop`` (which stops every Ray process of the user on the
machine): the cluster's processes are those whose command line names one of our temp dirs,
and their descendants (the workers, whose titles are ``ray::...``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cli() -> list[str]:
    return [sys.executable, "-m", "ray.scripts.scripts"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


@dataclass
class LocalCluster:
    address: str
    temp_dirs: list[Path]
    env: dict[str, str]
    nodes: int = 0
    pids: set[int] = field(default_factory=set)

    def processes(self) -> set[int]:
        """Our cluster's live processes: those naming a temp dir of ours, and their descendants."""
        roots = {
            int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and int(p.name) != os.getpid() and any(str(d) in _cmdline(int(p.name)) for d in self.temp_dirs)
        }
        tree, found, todo = _children(), set(), list(roots)
        while todo:
            pid = todo.pop()
            if pid not in found:
                found.add(pid)
                todo.extend(tree.get(pid, []))
        return found

    def stop(self) -> set[int]:
        """Kill every process of the cluster (by id); the ones still alive afterwards."""
        for _ in range(3):
            pids = self.processes() | self.pids
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.5)
        return {pid for pid in self.processes() | self.pids if Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)}


def _state(pid: int) -> str:
    try:
        return "zombie" if (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z" else "alive"
    except OSError:
        return "zombie"


def start_cluster(head_cpus: int = 2, second_node_cpus: int = 1, pythonpath: str | None = None) -> LocalCluster:
    """``ray start --head`` plus (``second_node_cpus`` > 0) a second node joining it."""
    port = free_port()
    # Short paths: Ray's Unix sockets live under the temp dir, and a socket path has 107 bytes.
    head_dir = Path(tempfile.mkdtemp(prefix="rayh-", dir="/tmp"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    env.pop("RAY_ADDRESS", None)
    cluster = LocalCluster(address=f"127.0.0.1:{port}", temp_dirs=[head_dir], env=env)
    # A small object store: the default takes 30% of the memory in /dev/shm.
    common = ["--include-dashboard=false", "--disable-usage-stats", "--node-ip-address=127.0.0.1", "--object-store-memory=200000000"]
    subprocess.run(
        [*_ray_cli(), "start", "--head", f"--port={port}", f"--num-cpus={head_cpus}", f"--temp-dir={head_dir}", *common],
        check=True, capture_output=True, env=env, timeout=120,
    )
    cluster.nodes = 1
    if second_node_cpus:
        node_dir = Path(tempfile.mkdtemp(prefix="rayn-", dir="/tmp"))
        cluster.temp_dirs.append(node_dir)
        subprocess.run(
            [*_ray_cli(), "start", f"--address=127.0.0.1:{port}", f"--num-cpus={second_node_cpus}", f"--temp-dir={node_dir}",
             "--disable-usage-stats", "--node-ip-address=127.0.0.1", "--object-store-memory=200000000"],
            check=True, capture_output=True, env=env, timeout=120,
        )
        cluster.nodes = 2
    cluster.pids = cluster.processes()
    return cluster
