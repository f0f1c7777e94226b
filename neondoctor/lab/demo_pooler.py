"""The pooler's faults, reproduced for real through the lab's PgBouncer (transaction mode).

Each builds the situation a Neon app meets on a `-pooler` host and returns the error the driver
really raised. Faults whose driver is missing are skipped with the reason; all of them are skipped
(with how to install PgBouncer) when there is no PgBouncer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from neondoctor import drivers
from neondoctor.lab.cluster import APP_DATABASE, APP_USER, LabCluster
from neondoctor.lab.fault import NotReproduced, error_of, raised
from neondoctor.lab.pgbouncer import PoolerSpec

# Small on purpose: two server connections per user/database, a 2 s queue, eight clients at most.
# server_login_retry 1 s: after the login faults, the pooler logs in again at once.
POOLER_SPEC = PoolerSpec(default_pool_size=2, max_client_conn=8, query_wait_timeout=2, max_prepared_statements=0,
                         server_login_retry=1)
# Runbooks no local fault can reproduce, and why (the tests check every other runbook is reproduced).
NOT_REPRODUCIBLE = {
    "neon-platform-limits": "a refusal of Neon's control plane (quotas, disabled endpoints)",
    "neon-compute-unreachable": "a refusal of Neon's proxy while the compute wakes",
    "pooler-session-state": "matched only when the paste itself names the pooler (a -pooler host or PgBouncer)",
}


def _dsn(url: str) -> str:
    """A plain libpq/asyncpg DSN from a lab URL (no +driver, no query)."""
    rest = url.split("://", 1)[1]
    return "postgresql://" + rest.split("?", 1)[0]


def _query(url: str, sql: str = "SELECT 1") -> None:
    """One statement through the pooler in psycopg 3 (which shows the pooler's own messages)."""
    import psycopg

    with psycopg.connect(_dsn(url), connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql)


def _pooled(cluster: LabCluster) -> str:
    return cluster.pooler().url()


@contextlib.contextmanager
def prepared_statements(cluster: LabCluster, url: str) -> Iterator[str]:
    """Two asyncpg clients with the default statement cache: each transaction may land on the other's
    server connection, where its named statement does not exist (or already exists)."""
    import asyncpg

    async def clash() -> str | None:
        one, two = await asyncpg.connect(_dsn(url)), await asyncpg.connect(_dsn(url))
        try:
            for i in range(10):
                async with one.transaction():  # holds one server connection...
                    await one.fetch("SELECT $1::int", i)
                    await two.fetch("SELECT $1::int * 2", i)  # ...so this prepares on the other
                await two.fetch("SELECT $1::int * 2", i)  # and may now run where it was never prepared
                await one.fetch("SELECT $1::int", i)
        except Exception as exc:
            return error_of(exc)
        finally:
            await one.close()
            await two.close()
        return None

    error = asyncio.run(asyncio.wait_for(clash(), 30))
    if error is None:
        raise NotReproduced
    yield error


def _pooled_with_options(cluster: LabCluster) -> str:
    return cluster.pooler().url(query={"connect_timeout": "5", "options": "-c statement_timeout=5000"})


@contextlib.contextmanager
def startup_parameter(cluster: LabCluster, url: str) -> Iterator[str]:
    """The URL carries `options=-c statement_timeout=...`, which the pooler does not track."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)

    def connect() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    try:
        yield raised(connect)
    finally:
        engine.dispose()


def _hold_transactions(url: str, count: int) -> list[Any]:
    """Connections through the pooler, each idle inside an open transaction (a leaked session)."""
    import psycopg2

    held = []
    for _ in range(count):
        conn = psycopg2.connect(_dsn(url), connect_timeout=5)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")  # psycopg2 opened a transaction: the server connection stays assigned
        held.append(conn)
    return held


@contextlib.contextmanager
def query_wait_timeout(cluster: LabCluster, url: str) -> Iterator[str]:
    """Leaked transactions hold both server connections; a psycopg 3 query waits in the pooler's queue."""
    held = _hold_transactions(url, POOLER_SPEC.default_pool_size or 2)
    try:
        time.sleep(1.2)  # old enough to be seen as idle in transaction
        yield raised(lambda: _query(url))
    finally:
        for conn in held:
            conn.close()


@contextlib.contextmanager
def client_limit(cluster: LabCluster, url: str) -> Iterator[str]:
    """Idle clients fill the pooler's max_client_conn; the next client is refused."""
    import psycopg2

    held: list[Any] = []

    def fill() -> None:
        for _ in range(POOLER_SPEC.max_client_conn + 1):
            held.append(psycopg2.connect(_dsn(url), connect_timeout=5))
    try:
        yield raised(fill)
    finally:
        for conn in held:
            conn.close()


@contextlib.contextmanager
def idle_in_transaction(cluster: LabCluster, url: str) -> Iterator[str]:
    """The role's idle_in_transaction_session_timeout (1 s here, 5 min on Neon) ends a leaked transaction."""
    import psycopg

    cluster.execute(f"ALTER ROLE {APP_USER} IN DATABASE {APP_DATABASE} SET idle_in_transaction_session_timeout = '1s'")
    # The pooler's existing server connections predate the setting: close them so new ones read it.
    cluster.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (APP_USER,))

    def leak() -> None:
        with psycopg.connect(_dsn(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
            time.sleep(1.6)
            conn.execute("SELECT 1")
    try:
        yield raised(leak)
    finally:
        cluster.execute(f"ALTER ROLE {APP_USER} IN DATABASE {APP_DATABASE} RESET idle_in_transaction_session_timeout")


@contextlib.contextmanager
def pooler_query_timeout(cluster: LabCluster, url: str) -> Iterator[str]:
    """A query runs longer than the pooler's own query_timeout (3 s here): the pooler closes the client.

    Set for this fault only: query_timeout also ends clients idle inside a transaction."""
    bouncer = cluster.pooler()
    bouncer.set("query_timeout", "3")
    try:
        yield raised(lambda: _query(url, "SELECT pg_sleep(6)"))
    finally:
        bouncer.set("query_timeout", "0")


def _login_error(url: str) -> str:
    """What an app sees while the pooler cannot log in (psycopg 3 shows the pooler's own message)."""
    last = "no error"
    for _ in range(3):
        try:
            _query(url)
        except Exception as exc:
            last = error_of(exc)
            if "server login" in last:
                break
    return last


def _until_the_pooler_logs_in(url: str, seconds: float = 15) -> None:
    """After a login fault: the pooler retries after server_login_retry; the next fault needs it back."""
    import psycopg2

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with contextlib.closing(psycopg2.connect(_dsn(url), connect_timeout=5)) as conn:
                conn.cursor().execute("SELECT 1")
                return
        except psycopg2.Error:
            time.sleep(0.3)
    raise RuntimeError("the pooler did not log in to the server again after the fault")


@contextlib.contextmanager
def server_down(cluster: LabCluster, url: str) -> Iterator[str]:
    """The server behind the pooler stops: the pooler reports its failed logins."""
    cluster.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (APP_USER,))
    cluster.stop()
    try:
        yield _login_error(url)
    finally:
        cluster.start()
        _until_the_pooler_logs_in(url)


@contextlib.contextmanager
def server_rejects_login(cluster: LabCluster, url: str) -> Iterator[str]:
    """The role's password changes on the server only: the pooler's logins fail, the app's URL is stale."""
    cluster.execute(f"ALTER ROLE {APP_USER} PASSWORD %s", ("Rotated-" + cluster.state.app_password[::-1],))
    cluster.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (APP_USER,))
    try:
        yield _login_error(url)
    finally:
        cluster.execute(f"ALTER ROLE {APP_USER} PASSWORD %s", (cluster.state.app_password,))
        # Same password, new SCRAM salt: the pooler's userlist must be read again to match it.
        cluster.pooler().reload()
        _until_the_pooler_logs_in(url)


def scenarios(scenario_type: Any) -> list[Any]:
    """(scenario, driver module it needs) for every pooler fault, in the demo's order."""
    pooled = _pooled
    return [
        (scenario_type("pooler-prepared-statements", "statement-cache-through-pooler",
                       "asyncpg's statement cache through transaction pooling (no prepared-statement support)",
                       pooled, prepared_statements, pooled=True), "asyncpg"),
        (scenario_type("pooler-startup-parameter", "untracked-startup-parameter",
                       "options=-c statement_timeout=... in the URL, through the pooler", _pooled_with_options,
                       startup_parameter,
                       pooled=True), "psycopg2"),
        (scenario_type("pooler-query-wait-timeout", "transactions-held-open",
                       "leaked transactions hold the pooler's server connections (query_wait_timeout 2 s)",
                       pooled, query_wait_timeout, pooled=True), "psycopg"),
        (scenario_type("pooler-client-limit", "pooler-client-limit", "idle clients reach the pooler's max_client_conn",
                       pooled, client_limit, pooled=True), "psycopg2"),
        (scenario_type("pooler-timeouts", "pooler-timer", "a query outlives the pooler's query_timeout (3 s)",
                       pooled, pooler_query_timeout, pooled=True), "psycopg"),
        (scenario_type("idle-in-transaction-timeout", "leaked-transaction",
                       "a transaction left idle past idle_in_transaction_session_timeout", pooled,
                       idle_in_transaction, pooled=True), "psycopg"),
        (scenario_type("pooler-server-login", "server-unreachable",
                       "the server behind the pooler is down (server_login_retry)", pooled, server_down,
                       pooled=True), "psycopg"),
        (scenario_type("pooler-server-login", "server-rejects-credentials",
                       "the role's password changed on the server (server_login_retry)", pooled,
                       server_rejects_login, pooled=True), "psycopg"),
    ]


def missing_driver(module: str) -> str | None:
    return None if drivers.installed(module) else f"needs {module} (pip install 'neondoctor[all]')"
