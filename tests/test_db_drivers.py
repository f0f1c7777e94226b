"""The engine factory with every driver, sync and async, against the real lab server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from _dblog import capture, events
from dbvariants import VARIANTS, Variant
from sqlalchemy import exc
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from neondoctor import db
from neondoctor.app.db.connect_args import driver_connect_args
from neondoctor.errors import ConfigError
from neondoctor.lab.cluster import LabCluster, free_port
from neondoctor.url import parse_url

each_variant = pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
ASYNCPG = next(v for v in VARIANTS if v.driver == "asyncpg")


def _terminate(lab: LabCluster, application_name: str) -> int:
    return len(lab.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                           (application_name,)))


@each_variant
def test_pool_settings_driver_and_health(variant: Variant, lab_primary: LabCluster) -> None:
    async def body() -> None:
        engine = variant.make(variant.url(lab_primary), application_name=f"set-{variant.id}", pool_size=2,
                              max_overflow=3, pool_recycle=120, pool_timeout=4)
        sync = getattr(engine, "sync_engine", engine)
        pool = sync.pool
        assert isinstance(pool, AsyncAdaptedQueuePool if variant.use_async else QueuePool)
        assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping, pool.timeout()) == (2, 3, 120, True, 4)
        assert sync.dialect.driver == variant.driver
        with capture() as logs:
            health = await variant.health(engine)
        assert health.ok and health.server_version and health.server_version.startswith(str(lab_primary.major))
        assert events(logs, "db.health")[0]["driver"] == variant.driver
        conn = await variant.checkout(engine)
        assert await variant.scalar(conn, "SHOW application_name") == f"set-{variant.id}"
        await variant.release(conn)
        await variant.dispose(engine)

    asyncio.run(body())


@each_variant
def test_pooled_host_disables_server_side_prepared_statements(variant: Variant, lab_primary: LabCluster) -> None:
    async def body() -> dict[str, Any]:
        found: dict[str, Any] = {}
        for pooled in (True, False):
            engine = variant.make(variant.url(lab_primary), pooled=pooled, application_name=f"prep-{variant.id}")
            conn = await variant.checkout(engine)
            for _ in range(7):  # past psycopg's prepare_threshold of 5
                await variant.scalar(conn, "SELECT count(*) FROM pg_class WHERE relname = 'pg_type'")
            raw = await variant.dbapi(conn)
            prepared = await variant.scalar(conn, "SELECT count(*) FROM pg_prepared_statements")
            found[pooled] = (raw, prepared)
            if variant.driver == "asyncpg":
                found[(pooled, "cache")] = raw._stmt_cache.get_max_size()
            if variant.driver == "psycopg":
                found[(pooled, "threshold")] = raw.prepare_threshold
            await variant.release(conn)
            await variant.dispose(engine)
        return found

    found = asyncio.run(body())
    if variant.driver == "psycopg":
        assert found[(True, "threshold")] is None and found[(False, "threshold")] == 5
        assert found[True][1] == 0 and found[False][1] >= 1  # psycopg prepared server-side only when not pooled
    elif variant.driver == "asyncpg":
        assert found[(True, "cache")] == 0 and found[(False, "cache")] == 100
    else:
        assert found[True][1] == 0 == found[False][1]  # psycopg2 never prepares on its own


@each_variant
def test_checkout_timeout_is_logged_with_timestamp(variant: Variant, lab_primary: LabCluster) -> None:
    async def body() -> list[dict[str, Any]]:
        engine = variant.make(variant.url(lab_primary), pool_size=1, max_overflow=0, pool_timeout=0.5)
        held = await variant.checkout(engine)
        with capture() as logs:
            started = time.monotonic()
            with pytest.raises(exc.TimeoutError, match="QueuePool limit of size 1 overflow 0 reached"):
                await variant.checkout(engine)
            assert 0.45 <= time.monotonic() - started < 5
        await variant.release(held)
        await variant.dispose(engine)
        return logs

    logs = asyncio.run(body())
    exhausted = events(logs, "pool.exhausted")
    assert len(exhausted) == 1 and exhausted[0]["log_level"] == "error"
    assert exhausted[0]["checkedout"] == 1 and exhausted[0]["capacity"] == 1 and exhausted[0]["waited_s"] >= 0.45
    assert exhausted[0]["at"].endswith("Z") and "T" in exhausted[0]["at"]


@each_variant
def test_pre_ping_replaces_a_terminated_backend(variant: Variant, lab_primary: LabCluster) -> None:
    name = f"ping-{variant.id}"

    async def body() -> tuple[list[dict[str, Any]], Any]:
        engine = variant.make(variant.url(lab_primary), application_name=name, pool_size=1)
        conn = await variant.checkout(engine)
        await variant.scalar(conn, "SELECT 1")
        await variant.release(conn)
        assert _terminate(lab_primary, name) == 1
        await asyncio.sleep(0.2)
        with capture() as logs:
            conn = await variant.checkout(engine)
            assert await variant.scalar(conn, "SELECT 1") == 1
            await variant.release(conn)
        observer = getattr(engine, "sync_engine", engine).pool._observer
        await variant.dispose(engine)
        return logs, observer

    logs, observer = asyncio.run(body())
    disconnect = events(logs, "db.disconnect")
    assert disconnect and disconnect[0]["pre_ping"] is True
    assert observer.counts["pre_ping_invalidations"] == 1
    assert events(logs, "pool.connect")[-1]["reconnect"] is True


@each_variant
def test_connect_retries_on_a_refused_port(variant: Variant, lab_primary: LabCluster) -> None:
    async def body() -> tuple[list[dict[str, Any]], Any, BaseException]:
        engine = variant.make(variant.url(lab_primary, port=free_port()), connect_timeout=2)
        with capture() as logs, pytest.raises(Exception) as info:
            await variant.connect_with_retry(engine, attempts=3, backoff=0.05)
        observer = getattr(engine, "sync_engine", engine).pool._observer
        await variant.dispose(engine)
        return logs, observer, info.value

    logs, observer, error = asyncio.run(body())
    assert db.is_transient(error)
    assert [r["attempt"] for r in events(logs, "db.connect.retry")] == [1, 2]
    assert events(logs, "db.connect.failed")[0]["transient"] is True
    assert observer.counts["connect_retries"] == 2


@each_variant
def test_tls_and_timeouts_in_the_drivers_own_terms(variant: Variant, lab_primary: LabCluster) -> None:
    """sslmode=require against a server without TLS fails the same way for every driver: refused TLS,
    not a TypeError about an unknown keyword (what a raw asyncpg URL gives)."""
    parsed = parse_url(variant.url(lab_primary, query={"sslmode": "require", "connect_timeout": "3"}))
    args = driver_connect_args(parsed, variant.driver, connect_timeout=10, application_name="x", pooled=False)
    if variant.driver == "asyncpg":
        assert args.connect_args["ssl"] == "require" and args.connect_args["timeout"] == 3.0 and args.query == {}
    else:
        assert args.query["sslmode"] == "require" and args.connect_args["connect_timeout"] == 3

    async def body() -> str:
        engine = variant.make(variant.url(lab_primary, query={"sslmode": "require", "connect_timeout": "3"}))
        health = await variant.health(engine, attempts=1)
        await variant.dispose(engine)
        assert not health.ok and health.error
        return health.error

    error = asyncio.run(body()).lower()
    assert "typeerror" not in error
    assert "ssl" in error  # libpq: "server does not support SSL"; asyncpg: "rejected SSL upgrade"


def test_asyncpg_refuses_libpq_only_parameters(lab_primary: LabCluster) -> None:
    variant = ASYNCPG
    for query, said in (({"channel_binding": "require"}, "channel_binding"), ({"keepalives": "1"}, "keepalives"),
                        ({"sslrootcert": "/x.crt"}, "ssl.create_default_context"), ({"bogus": "1"}, "bogus"),
                        ({"options": "endpoint=ep-x"}, "endpoint")):
        with pytest.raises(ConfigError, match=said):
            variant.make(variant.url(lab_primary, query=query))

    async def body() -> tuple[str, str]:
        engine = variant.make(variant.url(lab_primary, query={
            "sslmode": "disable", "application_name": "from-url", "options": "-c statement_timeout=1234"}))
        conn = await variant.checkout(engine)
        got = (await variant.scalar(conn, "SHOW statement_timeout"), await variant.scalar(conn, "SHOW application_name"))
        await variant.release(conn)
        await variant.dispose(engine)
        return got

    assert asyncio.run(body()) == ("1234ms", "from-url")


@pytest.mark.slow
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.use_async], ids=lambda v: v.id)
def test_async_retry_recovers_when_the_server_comes_back(variant: Variant, make_cluster: Any) -> None:
    import threading

    from neondoctor.lab.cluster import LabSpec

    cluster = make_cluster(LabSpec(max_connections=20))
    engine = variant.make(variant.url(cluster), connect_timeout=2)
    cluster.stop()
    starter = threading.Timer(1.0, cluster.start)
    starter.start()

    async def body() -> list[dict[str, Any]]:
        with capture() as logs:
            conn = await variant.connect_with_retry(engine, attempts=10, backoff=0.3, max_backoff=1.0)
            assert await variant.scalar(conn, "SELECT 1") == 1
            await variant.release(conn)
        await variant.dispose(engine)
        return logs

    try:
        logs = asyncio.run(body())
    finally:
        starter.join()
    assert events(logs, "db.connect.retry")
    assert events(logs, "db.connect.recovered")[0]["retries"] >= 1
