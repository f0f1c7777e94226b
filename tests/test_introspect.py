"""describe_pool with the real objects apps hold, pools opened against the lab server."""

from __future__ import annotations

import asyncio

import asyncpg
import psycopg
import psycopg_pool
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import sessionmaker

from neondoctor import db
from neondoctor.app.introspect import NotAPool, describe_pool
from neondoctor.lab.cluster import LabCluster


def _conninfo(lab: LabCluster) -> str:
    return (f"host=127.0.0.1 port={lab.port} user=app dbname=neondoctor_lab password={lab.state.app_password} "
            "connect_timeout=5")


def test_plain_sqlalchemy_engine_with_defaults(lab_primary: LabCluster) -> None:
    engine = sqlalchemy.create_engine(lab_primary.app_url())
    with engine.connect():
        d = describe_pool(engine)
    assert (d.kind, d.pool_class, d.driver) == ("sqlalchemy.Engine", "QueuePool", "psycopg2")
    assert (d.min_size, d.max_overflow, d.max_size, d.timeout) == (5, 10, 15, 30.0)
    assert d.pre_ping is False and d.recycle is None and d.prepared == {}
    assert describe_pool(engine).checked_out == 0 and describe_pool(engine).checked_in == 1
    engine.dispose()
    unbounded = sqlalchemy.create_engine(lab_primary.app_url(), max_overflow=-1)
    assert describe_pool(unbounded).max_size is None


def test_factory_engines_sync_and_async_with_pooler_settings(lab_primary: LabCluster) -> None:
    sync = db.create_engine(lab_primary.app_url(driver="psycopg"), pool_size=2, max_overflow=1, pool_recycle=300,
                            pooled=True)
    d = describe_pool(sync)
    assert (d.driver, d.min_size, d.max_size, d.pre_ping, d.recycle) == ("psycopg", 2, 3, True, 300)
    assert d.prepared == {"prepare_threshold": None} and d.pool_class == "ObservedQueuePool"
    assert describe_pool(db.create_engine(lab_primary.app_url(driver="psycopg"))).prepared == {"prepare_threshold": 5}

    apg = db.create_async_engine(lab_primary.app_url(driver="asyncpg"), pooled=True)
    d = describe_pool(apg)
    assert d.kind == "sqlalchemy.AsyncEngine" and d.pool_class == "ObservedAsyncAdaptedQueuePool"
    assert d.prepared == {"prepared_statement_cache_size": 0, "statement_cache_size": 0}
    plain = sqlalchemy.ext.asyncio.create_async_engine(lab_primary.app_url(driver="asyncpg", query={}))
    assert describe_pool(plain).prepared == {"prepared_statement_cache_size": 100, "statement_cache_size": 100}
    assert describe_pool(plain).pre_ping is False

    async def use() -> None:
        async with apg.connect():
            assert describe_pool(apg).checked_out == 1
        await apg.dispose()
        await plain.dispose()

    asyncio.run(use())
    sync.dispose()


def test_sessionmakers_describe_their_bound_engine(lab_primary: LabCluster) -> None:
    engine = db.create_engine(lab_primary.app_url(), pool_size=4)
    d = describe_pool(sessionmaker(bind=engine))
    assert d.kind == "sqlalchemy.sessionmaker -> sqlalchemy.Engine" and d.min_size == 4
    aengine = db.create_async_engine(lab_primary.app_url(driver="asyncpg"), pool_size=3)
    d = describe_pool(async_sessionmaker(aengine))
    assert d.kind == "sqlalchemy.async_sessionmaker -> sqlalchemy.AsyncEngine" and d.min_size == 3
    with pytest.raises(NotAPool, match="not bound"):
        describe_pool(sessionmaker())
    engine.dispose()
    asyncio.run(aengine.dispose())


def test_psycopg_pool_sync(lab_primary: LabCluster) -> None:
    with psycopg_pool.ConnectionPool(_conninfo(lab_primary), min_size=1, max_size=3, timeout=4, max_lifetime=600,
                                     check=psycopg_pool.ConnectionPool.check_connection,
                                     kwargs={"prepare_threshold": None}) as pool:
        pool.wait(timeout=10)
        with pool.connection() as conn:
            conn.execute("SELECT 1")
            d = describe_pool(pool)
    assert (d.kind, d.driver, d.min_size, d.max_size, d.timeout) == ("psycopg_pool.ConnectionPool", "psycopg", 1, 3, 4.0)
    assert d.pre_ping is True and d.recycle == 600.0 and d.max_idle == 600.0
    assert d.prepared == {"prepare_threshold": None} and d.checked_out == 1 and d.max_overflow is None
    with psycopg_pool.ConnectionPool(_conninfo(lab_primary), min_size=1, max_size=1) as bare:
        assert describe_pool(bare).pre_ping is False and describe_pool(bare).prepared == {"prepare_threshold": 5}


def test_psycopg_pool_async(lab_primary: LabCluster) -> None:
    async def body() -> None:
        async with psycopg_pool.AsyncConnectionPool(_conninfo(lab_primary), min_size=2, max_size=5,
                                                    check=psycopg_pool.AsyncConnectionPool.check_connection) as pool:
            await pool.wait(timeout=10)
            async with pool.connection() as conn:
                assert isinstance(conn, psycopg.AsyncConnection)
                d = describe_pool(pool)
        assert (d.kind, d.min_size, d.max_size, d.pre_ping) == ("psycopg_pool.AsyncConnectionPool", 2, 5, True)
        assert d.checked_out == 1

    asyncio.run(body())


def test_asyncpg_pool(lab_primary: LabCluster) -> None:
    async def body() -> None:
        pool = await asyncpg.create_pool(host="127.0.0.1", port=lab_primary.port, user="app",
                                         password=lab_primary.state.app_password, database="neondoctor_lab",
                                         min_size=1, max_size=4, statement_cache_size=0, timeout=5,
                                         max_inactive_connection_lifetime=120)
        try:
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1
                d = describe_pool(pool)
        finally:
            await pool.close()
        assert (d.kind, d.driver, d.min_size, d.max_size) == ("asyncpg.Pool", "asyncpg", 1, 4)
        assert d.pre_ping is None and d.timeout is None and d.max_idle == 120.0
        assert d.prepared == {"statement_cache_size": 0} and d.checked_out == 1
        assert any("no pre-ping" in n for n in d.notes)

    asyncio.run(body())


def test_other_objects_are_refused() -> None:
    for obj in (object(), "postgresql://x", 42):
        with pytest.raises(NotAPool, match="is not a SQLAlchemy Engine"):
            describe_pool(obj)
