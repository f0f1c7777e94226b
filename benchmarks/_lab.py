"""Shared by the benchmarks: a throwaway lab cluster, timing helpers, and how to run neondoctor."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from neondoctor.lab.cluster import LabCluster, LabSpec, find_install, temporary_cluster  # noqa: E402

NEONDOCTOR = [sys.executable, "-m", "neondoctor"]


@contextlib.contextmanager
def lab_cluster(spec: LabSpec | None = None) -> Iterator[LabCluster]:
    """A local lab server for the duration of a benchmark (system PostgreSQL first)."""
    with temporary_cluster(spec or LabSpec(max_connections=100), find_install()) as cluster:
        yield cluster


def env_with(**extra: str) -> dict[str, str]:
    # An installed package has its bytecode compiled (pip does it): with PYTHONDONTWRITEBYTECODE
    # set, every run would compile the changed modules from source again and time that too.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONDONTWRITEBYTECODE")}
    env.update(extra)
    env.setdefault("NO_COLOR", "1")
    return env


def wall(cmd: list[str], *, env: dict[str, str] | None = None, check: bool = True,
         stdin: int | None = subprocess.DEVNULL) -> float:
    """Seconds one run of `cmd` takes, output discarded."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=stdin, cwd=REPO)
    elapsed = time.perf_counter() - start
    if check and proc.returncode not in (0, 1, 3):
        raise SystemExit(f"{' '.join(cmd[:4])}... failed (exit {proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def median_wall(cmd: list[str], runs: int, *, env: dict[str, str] | None = None, warmup: int = 1) -> float:
    for _ in range(warmup):
        wall(cmd, env=env)
    return statistics.median(wall(cmd, env=env) for _ in range(runs))


def interleaved(cmds: dict[str, list[str]], runs: int, *, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median wall time of each command, runs interleaved so that machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for cmd in cmds.values():
        wall(cmd, env=env)  # warm the page cache and .pyc files
    for _ in range(runs):
        for name, cmd in cmds.items():
            times[name].append(wall(cmd, env=env))
    return {name: statistics.median(values) for name, values in times.items()}


def header(title: str) -> None:
    print(f"== {title} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs)")
