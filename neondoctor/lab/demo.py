"""`neondoctor lab demo`: reproduce each runbook's fault for real on a throwaway PostgreSQL, capture the
error the driver really raised, and triage it live to its confirmed cause.

One small cluster serves every scenario (max_connections=8, 3 reserved for superusers), so the
whole demo takes seconds. Each scenario restores what it broke before the next one starts.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neondoctor.lab import demo_pooler
from neondoctor.lab.cluster import APP_DATABASE, APP_USER, LabCluster, LabSpec, PgInstall, free_port, temporary_cluster
from neondoctor.lab.demo_pooler import error_of
from neondoctor.triage.runbook import Runbook, load_runbooks
from neondoctor.triage.walk import TriageOptions, TriageResult, triage

DEMO_SPEC = LabSpec(max_connections=8, superuser_reserved_connections=3)
APP_SOURCE = '''"""What a typical app does: one engine, default pool, no pre-ping."""
import os

from sqlalchemy import create_engine

engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10)
'''


@dataclass(frozen=True)
class DemoResult:
    runbook_id: str  # the runbook the fault belongs to
    expected_step: str  # the step that must be confirmed
    title: str
    error: str  # the error the driver raised, as the app would log it
    result: TriageResult
    seconds: float

    @property
    def ok(self) -> bool:
        step = self.result.verdict.step
        return (self.result.runbook is not None and self.result.runbook.id == self.runbook_id
                and self.result.verdict.status == "confirmed" and step is not None and step.id == self.expected_step)


@dataclass(frozen=True)
class DemoSkip:
    title: str
    reason: str


@dataclass(frozen=True)
class _Scenario:
    runbook_id: str
    expected_step: str
    title: str
    url: Callable[[LabCluster], str]
    fault: Callable[[LabCluster, str], Any]  # reproduce; returns a context manager held during triage
    pooled: bool = False  # goes through the lab's PgBouncer; triage gets the direct URL too


_error_of = error_of


def _connect_app(url: str, **engine_kwargs: Any) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, **engine_kwargs)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


@contextlib.contextmanager
def _simple(url: str, **engine_kwargs: Any) -> Iterator[str]:
    try:
        _connect_app(url, **engine_kwargs)
    except Exception as exc:
        yield _error_of(exc)
        return
    raise RuntimeError("the fault did not reproduce")


@contextlib.contextmanager
def _stale(cluster: LabCluster, url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, pool_size=5)  # no pool_pre_ping, like the app's module
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        cluster.execute("SELECT pg_terminate_backend(%s)", (pid,))  # the server drops the idle connection
        time.sleep(0.1)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            yield _error_of(exc)
            return
    finally:
        engine.dispose()
    raise RuntimeError("the fault did not reproduce")


@contextlib.contextmanager
def _slots(cluster: LabCluster, url: str) -> Iterator[str]:
    available = DEMO_SPEC.max_connections - DEMO_SPEC.superuser_reserved_connections
    held = [cluster.connect(user=APP_USER, database=APP_DATABASE) for _ in range(available)]
    try:
        try:
            _connect_app(url)
        except Exception as exc:
            yield _error_of(exc)
            return
    finally:
        for conn in held:
            conn.close()
    raise RuntimeError("the fault did not reproduce")


@contextlib.contextmanager
def _leak(url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=1)
    leaked = engine.connect()
    leaked.execute(text("SELECT 1"))  # checked out inside a transaction and never returned
    try:
        try:
            with engine.connect():
                pass
        except Exception as exc:
            yield _error_of(exc)
            return
    finally:
        leaked.close()
        engine.dispose()
    raise RuntimeError("the fault did not reproduce")


def _missing_driver() -> str | None:
    from neondoctor.triage.probes.base import importable

    return next((d for d in ("asyncpg", "pg8000") if not importable(d)), None)


def _scenarios() -> list[_Scenario]:
    wrong = "Demo-Wr0ng-" + str(free_port())  # not the role's password
    driver = _missing_driver()
    scenarios = [
        _Scenario("auth-failure", "wrong-credentials", "wrong password (scram-sha-256)",
                  lambda c: c.app_url(password=wrong), lambda c, u: _simple(u)),
        _Scenario("connect-failure", "port-closed", "nothing listens on the port",
                  lambda c: c.app_url(port=free_port()), lambda c, u: _simple(u)),
        _Scenario("connect-failure", "host-does-not-resolve", "the host name does not resolve",
                  lambda c: c.app_url(host="nosuchhost.invalid"), lambda c, u: _simple(u)),
        _Scenario("connect-failure", "tls-mismatch", "sslmode=require against a server without SSL",
                  lambda c: c.app_url(query={"sslmode": "require", "connect_timeout": "5"}),
                  lambda c, u: _simple(u)),
    ]
    if driver:
        scenarios.append(_Scenario("missing-driver", "driver-not-installed", f"the URL names {driver}, not installed",
                                   lambda c: c.app_url(driver=driver, query={}), lambda c, u: _simple(u)))
    scenarios += [
        _Scenario("missing-driver", "postgres-scheme", "a postgres:// URL",
                  lambda c: c.app_url(driver=None).replace("postgresql://", "postgres://", 1),
                  lambda c, u: _simple(u)),
        _Scenario("stale-connection", "no-pre-ping", "backend killed under a pool without pre-ping",
                  lambda c: c.app_url(), _stale),
        _Scenario("slot-exhaustion", "slots-full", "the app's connections fill every non-superuser slot",
                  lambda c: c.app_url(), _slots),
        _Scenario("pool-timeout", "leaked-checkout", "a leaked checkout exhausts QueuePool (size 1, timeout 1 s)",
                  lambda c: c.app_url(), lambda c, u: _leak(u)),
    ]
    return scenarios


def pooler_scenarios() -> list[tuple[_Scenario, str | None]]:
    """(scenario, why it is skipped or None) for each pooler fault; all skipped without PgBouncer."""
    from neondoctor.lab.pgbouncer import INSTALL_HINT, find_pgbouncer

    found = find_pgbouncer()
    return [(sc, INSTALL_HINT if found is None else demo_pooler.missing_driver(module))
            for sc, module in demo_pooler.scenarios(_Scenario)]


def scenario_count() -> int:
    return len(_scenarios()) + len(pooler_scenarios())


def run_scenario(cluster: LabCluster, scenario: _Scenario, books: list[Runbook], app_dir: Path,
                 timeout: int = 3) -> DemoResult:
    """Reproduce one fault and triage the error it raised while the fault still holds."""
    start = time.monotonic()
    url = scenario.url(cluster)
    with scenario.fault(cluster, url) as error:
        options = TriageOptions(database_url=url, cwd=app_dir, timeout=timeout,
                                direct_url=cluster.app_url() if scenario.pooled else None)
        result = triage(error, books, options)
    return DemoResult(scenario.runbook_id, scenario.expected_step, scenario.title, error, result,
                      time.monotonic() - start)


def run_demo(install: PgInstall | None = None, *, runbooks: list[Runbook] | None = None,
             on_result: Callable[[DemoResult], None] | None = None,
             on_start: Callable[[LabCluster], None] | None = None,
             on_skip: Callable[[DemoSkip], None] | None = None, timeout: int = 3) -> list[DemoResult]:
    """Create a throwaway cluster (and PgBouncer when there is one), reproduce every fault, triage each
    live; everything is destroyed after. Faults that cannot run here are reported to on_skip."""
    from neondoctor.lab.pgbouncer import LabPooler

    books = runbooks or load_runbooks()
    results: list[DemoResult] = []
    pooled = pooler_scenarios()
    with temporary_cluster(DEMO_SPEC, install) as cluster, tempfile.TemporaryDirectory(prefix="neondoctor-demo-") as app:
        app_dir = Path(app)
        (app_dir / "app.py").write_text(APP_SOURCE)  # what the engine probe reads statically
        if any(why is None for _, why in pooled):
            LabPooler.create(cluster, demo_pooler.POOLER_SPEC)
        if on_start:
            on_start(cluster)
        todo = [(sc, None) for sc in _scenarios()] + pooled
        for scenario, why in todo:
            if why is not None:
                if on_skip:
                    on_skip(DemoSkip(scenario.title, why))
                continue
            outcome = run_scenario(cluster, scenario, books, app_dir, timeout)
            results.append(outcome)
            if on_result:
                on_result(outcome)
    return results
