"""`neondoctor lab demo`: reproduce each runbook's fault for real on a throwaway PostgreSQL, capture the
error the driver really raised, and triage it live to its confirmed cause.

One small cluster serves every scenario (max_connections=8, 3 reserved for superusers), so the
whole demo takes seconds. Each scenario restores what it broke before the next one starts.

The faults are reproduced in a chosen driver (psycopg2, psycopg, psycopg_async, asyncpg), the app's
side of each in neondoctor.lab.demo_app; each fault yields the error it raised (neondoctor.lab.fault)
while it still holds, and triage runs then. The end-to-end tests
parametrize over the same `scenarios()` (one list of faults, two consumers). The pooler's faults
(neondoctor.lab.demo_pooler) run through the lab's PgBouncer when there is one, and are reported as
skipped, with the reason, when there is not.
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
from neondoctor.lab.demo_app import app_in, connect_app
from neondoctor.lab.fault import raised
from neondoctor.triage.runbook import Runbook, load_runbooks
from neondoctor.triage.walk import TriageOptions, TriageResult, triage

DEMO_SPEC = LabSpec(max_connections=8, superuser_reserved_connections=3)
APP_SOURCE = '''"""What a typical app does: one engine, default pool, no pre-ping."""
import os

from sqlalchemy import create_engine

engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10)
'''
DEMO_DRIVERS = ("psycopg2", "psycopg", "psycopg_async", "asyncpg")


def app_source(driver: str) -> str:
    """The app module of the demo, sync or async like the driver."""
    from neondoctor import drivers

    known = drivers.get(driver)
    if not (known and known.is_async):
        return APP_SOURCE
    return APP_SOURCE.replace("from sqlalchemy import create_engine",
                              "from sqlalchemy.ext.asyncio import create_async_engine").replace(
        "engine = create_engine(", "engine = create_async_engine(")


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
class Scenario:
    """One fault: how to build the broken URL, how to reproduce it, which runbook step it confirms."""

    runbook_id: str
    expected_step: str
    title: str
    url: Callable[[LabCluster], str]
    fault: Callable[[LabCluster, str], Any]  # reproduce; returns a context manager held during triage
    key: str = ""  # a short name, for test ids
    pooled: bool = False  # goes through the lab's PgBouncer; triage gets the direct URL too


@contextlib.contextmanager
def _simple(url: str, driver: str = "psycopg2", **engine_kwargs: Any) -> Iterator[str]:
    with app_in(driver) as app:
        yield raised(lambda: connect_app(app, url, **engine_kwargs))


@contextlib.contextmanager
def _stale(cluster: LabCluster, url: str, driver: str = "psycopg2") -> Iterator[str]:
    from sqlalchemy import text

    with app_in(driver) as app:
        engine = app.engine(url, pool_size=5)  # no pool_pre_ping, like the app's module

        def pid() -> Any:
            with engine.connect() as conn:
                return conn.execute(text("SELECT pg_backend_pid()")).scalar()

        def reuse() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        try:
            cluster.execute("SELECT pg_terminate_backend(%s)", (app.run(pid),))  # the server drops it
            time.sleep(0.1)
            yield raised(lambda: app.run(reuse))
        finally:
            app.run(engine.dispose)


@contextlib.contextmanager
def _slots(cluster: LabCluster, url: str, driver: str = "psycopg2") -> Iterator[str]:
    available = DEMO_SPEC.max_connections - DEMO_SPEC.superuser_reserved_connections
    held = [cluster.connect(user=APP_USER, database=APP_DATABASE) for _ in range(available)]
    try:
        with app_in(driver) as app:
            yield raised(lambda: connect_app(app, url))
    finally:
        for conn in held:
            conn.close()


@contextlib.contextmanager
def _leak(url: str, driver: str = "psycopg2") -> Iterator[str]:
    from sqlalchemy import text

    with app_in(driver) as app:
        engine = app.engine(url, pool_size=1, max_overflow=0, pool_timeout=1)

        def leak() -> Any:
            leaked = engine.connect()
            leaked.execute(text("SELECT 1"))  # checked out inside a transaction and never returned
            return leaked

        def second() -> None:
            with engine.connect():
                pass
        leaked = app.run(leak)
        try:
            yield raised(lambda: app.run(second))  # the leaked session stays idle in transaction during triage
        finally:
            app.run(leaked.close)
            app.run(engine.dispose)


def _missing_driver() -> str | None:
    from neondoctor import drivers

    return next((d for d in ("asyncpg", "pg8000") if not drivers.installed(d)), None)


def scenarios(driver: str = "psycopg2", *, demo: bool = True) -> list[Scenario]:
    """The faults, reproduced with `driver`. `demo=False` leaves out the two URL-only faults
    (missing driver, postgres://), which do not depend on the driver."""
    wrong = "Demo-Wr0ng-" + str(free_port())  # not the role's password
    missing = _missing_driver()
    asyncpg = driver == "asyncpg"
    # asyncpg takes no libpq parameters: its timeout goes in connect_args, TLS is spelled ssl=.
    base: dict[str, str] = {} if asyncpg else {"connect_timeout": "5"}
    tls = {"ssl": "require"} if asyncpg else {"sslmode": "require", "connect_timeout": "5"}

    def url(**kwargs: Any) -> Callable[[LabCluster], str]:
        return lambda c: c.app_url(driver=driver, query=dict(base), **kwargs)

    out = [
        Scenario("auth-failure", "wrong-credentials", "wrong password (scram-sha-256)",
                 url(password=wrong), lambda c, u: _simple(u, driver), "wrong-password"),
        Scenario("connect-failure", "port-closed", "nothing listens on the port",
                 lambda c: c.app_url(driver=driver, query=dict(base), port=free_port()),
                 lambda c, u: _simple(u, driver), "refused-port"),
        Scenario("connect-failure", "host-does-not-resolve", "the host name does not resolve",
                 url(host="nosuchhost.invalid"), lambda c, u: _simple(u, driver), "unresolvable-host"),
        Scenario("connect-failure", "tls-mismatch", f"{'ssl' if asyncpg else 'sslmode'}=require against a server "
                 "without SSL", lambda c: c.app_url(driver=driver, query=dict(tls)),
                 lambda c, u: _simple(u, driver), "tls-mismatch"),
    ]
    if demo and missing:
        out.append(Scenario("missing-driver", "driver-not-installed", f"the URL names {missing}, not installed",
                            lambda c: c.app_url(driver=missing, query={}), lambda c, u: _simple(u, missing),
                            "missing-driver"))
    if demo:
        out.append(Scenario("missing-driver", "postgres-scheme", "a postgres:// URL",
                            lambda c: c.app_url(driver=None).replace("postgresql://", "postgres://", 1),
                            lambda c, u: _simple(u), "postgres-scheme"))
    out += [
        Scenario("stale-connection", "no-pre-ping", "backend killed under a pool without pre-ping",
                 url(), lambda c, u: _stale(c, u, driver), "killed-backend"),
        Scenario("slot-exhaustion", "slots-full", "the app's connections fill every non-superuser slot",
                 url(), lambda c, u: _slots(c, u, driver), "full-slots"),
        Scenario("pool-timeout", "leaked-checkout", "a leaked checkout exhausts the pool (size 1, timeout 1 s)",
                 url(), lambda c, u: _leak(u, driver), "leaked-checkout"),
    ]
    return out


def pooler_scenarios() -> list[tuple[Scenario, str | None]]:
    """(scenario, why it is skipped or None) for each pooler fault; all skipped without PgBouncer."""
    from neondoctor.lab.pgbouncer import INSTALL_HINT, find_pgbouncer

    found = find_pgbouncer()
    return [(sc, INSTALL_HINT if found is None else demo_pooler.missing_driver(module))
            for sc, module in demo_pooler.scenarios(Scenario)]


def scenario_count(driver: str = "psycopg2") -> int:
    return len(scenarios(driver)) + len(pooler_scenarios())


def run_scenario(cluster: LabCluster, scenario: Scenario, books: list[Runbook], app_dir: Path,
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
             on_skip: Callable[[DemoSkip], None] | None = None, timeout: int = 3,
             driver: str = "psycopg2") -> list[DemoResult]:
    """Create a throwaway cluster (and PgBouncer when there is one), reproduce every fault with `driver`
    (the pooler's in their own drivers), triage each live; everything is destroyed after. Faults that
    cannot run here are reported to on_skip."""
    from neondoctor.lab.pgbouncer import LabPooler

    books = runbooks or load_runbooks()
    results: list[DemoResult] = []
    pooled = pooler_scenarios()
    with temporary_cluster(DEMO_SPEC, install) as cluster, tempfile.TemporaryDirectory(prefix="neondoctor-demo-") as app:
        app_dir = Path(app)
        (app_dir / "app.py").write_text(app_source(driver))  # what the engine probe reads statically
        if any(why is None for _, why in pooled):
            LabPooler.create(cluster, demo_pooler.POOLER_SPEC)
        if on_start:
            on_start(cluster)
        todo: list[tuple[Scenario, str | None]] = [(sc, None) for sc in scenarios(driver)] + pooled
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
