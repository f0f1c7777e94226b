"""Start-up health check and session helpers, sync and async."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neondoctor.app.db.logs import emit, error_text
from neondoctor.app.db.pool_events import pool_counts
from neondoctor.app.db.retry import connect_with_retry, connect_with_retry_async

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session, sessionmaker


@dataclass(frozen=True)
class Health:
    ok: bool
    latency_ms: float
    server_version: str | None = None
    error: str | None = None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _report(engine: Any, health: Health) -> Health:
    sync = getattr(engine, "sync_engine", engine)
    url = sync.url.render_as_string(hide_password=True)
    observer = getattr(sync.pool, "_observer", None)
    name = observer.name if observer else None
    if health.ok:
        emit(logging.INFO, "db.health", engine=name, ok=True, latency_ms=health.latency_ms,
             server_version=health.server_version, driver=sync.dialect.driver, url=url, **pool_counts(sync.pool))
    else:
        emit(logging.ERROR, "db.health", engine=name, ok=False, latency_ms=health.latency_ms, error=health.error,
             driver=sync.dialect.driver, url=url)
    return health


def check_health(engine: Engine, *, attempts: int = 3, backoff: float = 0.5) -> Health:
    """`SELECT 1` through the pool, logged as db.health (call it at start-up). Never raises."""
    from sqlalchemy import text

    started = time.perf_counter()
    try:
        with connect_with_retry(engine, attempts=attempts, backoff=backoff) as conn:
            conn.execute(text("SELECT 1")).scalar_one()
            version = conn.execute(text("SHOW server_version")).scalar_one()
    except Exception as exc:
        return _report(engine, Health(False, _ms(started), error=error_text(exc)))
    return _report(engine, Health(True, _ms(started), str(version)))


async def check_health_async(engine: AsyncEngine, *, attempts: int = 3, backoff: float = 0.5) -> Health:
    """The asyncio twin of `check_health`: `SELECT 1` through the pool, logged as db.health. Never raises."""
    from sqlalchemy import text

    started = time.perf_counter()
    try:
        conn = await connect_with_retry_async(engine, attempts=attempts, backoff=backoff)
        try:  # already started: `async with` would start it again
            (await conn.execute(text("SELECT 1"))).scalar_one()
            version = (await conn.execute(text("SHOW server_version"))).scalar_one()
        finally:
            await conn.close()
    except Exception as exc:
        return _report(engine, Health(False, _ms(started), error=error_text(exc)))
    return _report(engine, Health(True, _ms(started), str(version)))


def make_sessionmaker(engine: Engine, **kwargs: Any) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    kwargs.setdefault("expire_on_commit", False)
    return sessionmaker(bind=engine, **kwargs)


def make_async_sessionmaker(engine: AsyncEngine, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    kwargs.setdefault("expire_on_commit", False)
    return async_sessionmaker(bind=engine, **kwargs)


@contextlib.contextmanager
def session_scope(engine_or_factory: Any) -> Iterator[Session]:
    """A session that commits on success, rolls back on any error, and is always closed."""
    from sqlalchemy.engine import Engine as _Engine

    factory = make_sessionmaker(engine_or_factory) if isinstance(engine_or_factory, _Engine) else engine_or_factory
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        session.rollback()
        emit(logging.INFO, "db.session.rollback", error=error_text(exc))
        raise
    finally:
        session.close()


@contextlib.asynccontextmanager
async def async_session_scope(engine_or_factory: Any) -> AsyncIterator[AsyncSession]:
    """An AsyncSession that commits on success, rolls back on any error, and is always closed."""
    from sqlalchemy.ext.asyncio import AsyncEngine as _AsyncEngine

    factory = (make_async_sessionmaker(engine_or_factory) if isinstance(engine_or_factory, _AsyncEngine)
               else engine_or_factory)
    session = factory()
    try:
        yield session
        await session.commit()
    except BaseException as exc:
        await session.rollback()
        emit(logging.INFO, "db.session.rollback", error=error_text(exc))
        raise
    finally:
        await session.close()
