"""A backend that stops answering on an open connection (SIGSTOP: the kernel still acknowledges TCP,
so neither statement_timeout nor keepalives help) must not hang any command: each ends within its
timeout plus a small slack, with its documented exit code, in every driver.

The frozen backends are found from a second connection (pg_stat_activity, by application_name)
and always resumed (SIGCONT) in a `finally`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from neondoctor.errors import EXIT_FINDINGS, EXIT_UNREACHABLE

DRIVERS = ("psycopg2", "psycopg", "asyncpg")
TIMEOUT = 2
SLACK = 4.0  # seconds: cancel grace, interpreter start-up, a loaded machine


class Freezer:
    """Stops every backend whose application_name is `app` as soon as it waits for its client.

    Only idle backends are stopped: one stopped during its start-up or mid-statement may hold a
    server-wide lock and freeze every other connection, the test's own included."""

    def __init__(self, cluster: Any, app: str) -> None:
        self.cluster, self.app = cluster, app
        self.stopped: list[int] = []
        self.first_stop: float | None = None
        self.last_stop: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    def freeze_now(self) -> list[int]:
        if self._conn is None:  # one connection of its own: new ones could queue behind a frozen backend
            self._conn = self.cluster.connect()
        with self._conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid() "
                        "AND state IN ('idle', 'idle in transaction')", (self.app,))
            pids = [r[0] for r in cur.fetchall()]
        for pid in pids:
            if pid not in self.stopped:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:  # it ended in between
                    continue
                self.stopped.append(pid)
                self.first_stop = self.first_stop or time.monotonic()
                self.last_stop = time.monotonic()
        return pids

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(0.01):
                self.freeze_now()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def thaw(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for pid in self.stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@pytest.fixture
def freezer(lab_primary: Any) -> Iterator[Any]:
    made: list[Freezer] = []

    def make(app: str) -> Freezer:
        made.append(Freezer(lab_primary, app))
        return made[-1]
    yield make
    for f in made:
        f.thaw()


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "DATABASE_URL": url, "NO_COLOR": "1"}


@pytest.mark.parametrize("driver", DRIVERS)
def test_pool_stats_watch_ends_when_its_backend_freezes(lab_primary: Any, freezer: Any, driver: str) -> None:
    url = lab_primary.app_url(driver=driver, query={})
    proc = subprocess.Popen([sys.executable, "-m", "neondoctor", "pool-stats", "--watch", "--samples", "50",
                             "--interval", "0.5", "--connect-timeout", str(TIMEOUT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(url))
    frozen = freezer("neondoctor")
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the first sample: neondoctor's one connection is open and idle
        assert frozen.freeze_now(), "neondoctor's connection was not found"
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=TIMEOUT + SLACK + 10)
        elapsed = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_UNREACHABLE, out + err
    assert elapsed < TIMEOUT + SLACK, elapsed
    assert "stopped answering" in out and "Traceback" not in err


@pytest.mark.parametrize("driver", DRIVERS)
def test_latency_ends_when_its_backend_freezes(lab_primary: Any, freezer: Any, driver: str) -> None:
    frozen = freezer("neondoctor")
    frozen.start()
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "neondoctor", "latency", "--json", "--rounds", "3",
                           "--timeout", str(TIMEOUT)], capture_output=True, text=True, timeout=60,
                          env=_env(lab_primary.app_url(driver=driver, query={})))
    ended = time.monotonic()
    assert frozen.last_stop is not None, proc.stdout + proc.stderr
    assert proc.returncode == EXIT_UNREACHABLE, proc.stdout + proc.stderr
    # A backend frozen after its last query is harmless (the round closes it); the one that stalls
    # a call ends the command within the bound.
    assert ended - frozen.last_stop < TIMEOUT + SLACK, (ended - frozen.last_stop, ended - start)
    assert "stopped answering" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("driver", DRIVERS)
def test_triage_probes_end_when_the_server_freezes(lab_primary: Any, driver: str) -> None:
    """The whole server freezes (its postmaster stopped: TCP still accepted by the kernel, nothing
    answered): every probe that talks to it is inconclusive after about --timeout and the walk
    ends with a verdict. The open-connection case is covered by pool-stats, latency and sanity."""
    postmaster = int((lab_primary.data_dir / "postmaster.pid").read_text().split()[0])
    url = lab_primary.app_url(driver=driver, query={})
    start = time.monotonic()
    os.kill(postmaster, signal.SIGSTOP)
    try:
        proc = subprocess.run([sys.executable, "-m", "neondoctor", "triage", "--json", "--timeout", str(TIMEOUT),
                               "FATAL: sorry, too many clients already"], capture_output=True, text=True,
                              timeout=120, env=_env(url))
    finally:
        os.kill(postmaster, signal.SIGCONT)
    elapsed = time.monotonic() - start
    assert proc.returncode in (0, EXIT_FINDINGS), proc.stdout + proc.stderr
    import json

    steps = json.loads(proc.stdout)["steps"]
    assert [s for s in steps if s["status"] == "inconclusive" and s["probe"] == "slots"], steps
    assert all(s["duration_ms"] < (TIMEOUT + SLACK) * 1000 for s in steps), steps
    assert elapsed < len(steps) * (TIMEOUT + SLACK) + 5


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg", "asyncpg", "psycopg_async"])
def test_sanity_ends_and_leaves_no_marker_when_its_backends_freeze(lab_primary: Any, freezer: Any,
                                                                   driver: str) -> None:
    """Frozen after the marker row is written: the fresh process (a new backend) reads it, the
    parent's cleanup meets the frozen pool, is cut off by the watchdog, and the pool's pre-ping
    replaces the connection: the marker rows are removed, in bounded time."""
    from neondoctor.sanity.sequence import run_sanity

    url = lab_primary.app_url(driver=driver, query={})
    frozen = freezer("neondoctor-sanity")
    times: dict[str, float] = {}

    def after(name: str, report: Any) -> None:
        if name == "round_trip":  # the marker row exists; the pooled connections freeze now
            assert frozen.freeze_now()
            times["stopped"] = time.monotonic()

    report = run_sanity(url, timeout=TIMEOUT, after_step=after)
    elapsed = time.monotonic() - times["stopped"]
    frozen.thaw()
    assert report.step("restart").status == "passed", report.to_json()
    assert report.cleanup == "removed 2 marker rows", report.cleanup
    left = lab_primary.execute("SELECT count(*) FROM categories WHERE name = %s", (report.token,),
                               database="neondoctor_lab")
    assert left == [(0,)]
    assert elapsed < 3 * (TIMEOUT + SLACK) + 15, elapsed  # restart's interpreter start-up included


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg", "asyncpg"])
def test_sanity_fails_in_time_when_every_connection_freezes(lab_primary: Any, freezer: Any, driver: str) -> None:
    """From the second step on, every connection of the run freezes once idle: a step fails with the
    stall named (the pre-ping replaces the first frozen connection, the replacement freezes too)."""
    from neondoctor.sanity.sequence import run_sanity

    frozen = freezer("neondoctor-sanity")
    times: dict[str, float] = {}

    def after(name: str, report: Any) -> None:
        if name == "health":
            frozen.start()
            times["stopped"] = time.monotonic()

    report = run_sanity(lab_primary.app_url(driver=driver, query={}), timeout=TIMEOUT, after_step=after)
    elapsed = time.monotonic() - times["stopped"]
    frozen.thaw()
    assert report.failed_step is not None and report.failed_step.name != "health", report.to_json()
    if report.failed_step.name == "restart":  # the fresh process's own watchdog closed its connection
        assert "server closed the connection" in (report.failed_step.error or ""), report.failed_step.error
    else:
        assert "stopped answering" in (report.failed_step.error or ""), report.failed_step.error
    assert elapsed < 4 * (TIMEOUT + 1) + SLACK, elapsed
    if report.failed_step.name in ("schema", "tables"):
        assert report.cleanup == ""  # nothing was written
        return
    # A COMMIT already sent to the frozen backend is applied when it resumes, after this run's
    # cleanup: the next run removes such a marker (its run's liveness lock is free by then).
    time.sleep(0.5)
    count = "SELECT count(*) FROM categories WHERE name = %s"
    if lab_primary.execute(count, (report.token,), database="neondoctor_lab") != [(0,)]:
        again = run_sanity(lab_primary.app_url(driver=driver, query={}), timeout=TIMEOUT)
        assert again.passed, again.to_json()
        assert lab_primary.execute(count, (report.token,), database="neondoctor_lab") == [(0,)]
