"""Bounded retries for transient connect failures (cold start, restart, network blip, full slots).

Each retry is logged with its attempt number and counted on the engine (and its metrics), so
"how often did we retry" is answerable in production.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from neondoctor.app.db.logs import emit, error_text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from neondoctor.app.db.pool_events import PoolObserver

T = TypeVar("T")

# Texts of connection failures worth another attempt, as psycopg2, psycopg 3 and asyncpg word them.
TRANSIENT_MARKERS = (
    "connection refused", "timeout expired", "could not connect", "closed the connection unexpectedly",
    "terminating connection", "couldn't connect to compute node", "too many clients",
    "remaining connection slots are reserved", "the database system is starting up",
    "the database system is shutting down", "ssl syscall error", "connection timed out",
    "temporary failure in name resolution", "server closed the connection", "connect call failed",
    "connection was closed in the middle of operation", "connection is closed",
)


def is_transient(exc: BaseException) -> bool:
    """A connection failure another attempt may fix (not bad credentials, not a missing database)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | TimeoutError):  # asyncpg lets OS errors through unwrapped
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | OSError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


def _observer(engine: Any) -> PoolObserver | None:
    pool = getattr(getattr(engine, "sync_engine", engine), "pool", None)
    return getattr(pool, "_observer", None)


def _on_retry(observer: PoolObserver | None) -> None:
    if observer is not None:
        observer.bump("connect_retries")
        if observer.metrics:
            observer.metrics.connect_retry()


def _delays(attempts: int, backoff: float, max_backoff: float) -> list[float]:
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    return [min(max_backoff, backoff * 2 ** i) for i in range(attempts - 1)]


def _after_failure(exc: BaseException, attempt: int, attempts: int, delays: list[float], what: str,
                   transient: Callable[[BaseException], bool], observer: PoolObserver | None) -> float | None:
    """The wait before the next attempt (the retry logged and counted), or None: give up (logged)."""
    is_t = transient(exc)
    if attempt >= attempts or not is_t:
        emit(logging.ERROR, f"{what}.failed", attempt=attempt, attempts=attempts, transient=is_t,
             error=error_text(exc))
        return None
    delay = delays[attempt - 1]
    _on_retry(observer)
    emit(logging.WARNING, f"{what}.retry", attempt=attempt, attempts=attempts, retry_in_s=round(delay, 3),
         error=error_text(exc))
    return delay


def _succeeded(what: str, attempt: int) -> None:
    if attempt > 1:
        emit(logging.INFO, f"{what}.recovered", attempt=attempt, retries=attempt - 1)


def retrying(fn: Callable[[], T], *, attempts: int = 3, backoff: float = 0.5, max_backoff: float = 5.0,
             what: str = "db.operation", transient: Callable[[BaseException], bool] = is_transient,
             observer: PoolObserver | None = None) -> T:
    """Call fn; on a transient failure wait (exponential backoff, bounded) and try again, logging each retry."""
    delays = _delays(attempts, backoff, max_backoff)
    for attempt in range(1, attempts + 1):
        try:
            result = fn()
        except Exception as exc:
            delay = _after_failure(exc, attempt, attempts, delays, what, transient, observer)
            if delay is None:
                raise
            time.sleep(delay)
        else:
            _succeeded(what, attempt)
            return result
    raise AssertionError("unreachable")


async def retrying_async(fn: Callable[[], Awaitable[T]], *, attempts: int = 3, backoff: float = 0.5,
                         max_backoff: float = 5.0, what: str = "db.operation",
                         transient: Callable[[BaseException], bool] = is_transient,
                         observer: PoolObserver | None = None) -> T:
    """The asyncio twin of `retrying`: awaits fn, sleeps without blocking the event loop."""
    delays = _delays(attempts, backoff, max_backoff)
    for attempt in range(1, attempts + 1):
        try:
            result = await fn()
        except Exception as exc:
            delay = _after_failure(exc, attempt, attempts, delays, what, transient, observer)
            if delay is None:
                raise
            await asyncio.sleep(delay)
        else:
            _succeeded(what, attempt)
            return result
    raise AssertionError("unreachable")


def connect_with_retry(engine: Engine, *, attempts: int = 3, backoff: float = 0.5,
                       max_backoff: float = 5.0) -> Connection:
    """engine.connect() with bounded retries for transient failures (cold start, restart, blip)."""
    return retrying(engine.connect, attempts=attempts, backoff=backoff, max_backoff=max_backoff,
                    what="db.connect", observer=_observer(engine))


async def connect_with_retry_async(engine: AsyncEngine, *, attempts: int = 3, backoff: float = 0.5,
                                   max_backoff: float = 5.0) -> AsyncConnection:
    """A started AsyncConnection, with bounded retries; the caller must `await conn.close()` (not `async with`)."""

    async def attempt() -> AsyncConnection:
        conn = engine.connect()
        return await conn.start()

    return await retrying_async(attempt, attempts=attempts, backoff=backoff, max_backoff=max_backoff,
                                what="db.connect", observer=_observer(engine))
