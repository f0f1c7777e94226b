"""The engine factory apps should use: bounded, pre-pinged, recycled, and every pool event logged.

    from neondoctor.db import create_engine, check_health, session_scope

    engine = create_engine()                 # DATABASE_URL from the environment or .env
    check_health(engine)                     # logs db.health at start-up
    with session_scope(engine) as session:   # commit on success, rollback on error, always close
        session.execute(...)

    engine = create_async_engine("postgresql+asyncpg://...")   # or postgresql+psycopg://
    await check_health_async(engine)

Logs go to the stdlib logger ``neondoctor.db`` (silent unless the application configures logging);
``metrics=True`` exports the pool to Prometheus. Modules: `engine` (the factories), `urls` (driver
choice), `connect_args` (per-driver timeouts/TLS/pooler settings), `pool_events`, `retry`, `health`,
`metrics`, `logs`.
"""

from neondoctor.app.db.connect_args import DriverArgs, driver_connect_args
from neondoctor.app.db.engine import (
    DEFAULT_APPLICATION_NAME,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_RECYCLE,
    DEFAULT_POOL_TIMEOUT,
    PROFILES,
    create_async_engine,
    create_engine,
)
from neondoctor.app.db.health import (
    Health,
    async_session_scope,
    check_health,
    check_health_async,
    make_async_sessionmaker,
    make_sessionmaker,
    session_scope,
)
from neondoctor.app.db.logs import LOGGER_NAME
from neondoctor.app.db.pool_events import PoolObserver, attach_pool_logging, pool_counts
from neondoctor.app.db.retry import (
    TRANSIENT_MARKERS,
    connect_with_retry,
    connect_with_retry_async,
    is_transient,
    retrying,
    retrying_async,
)
from neondoctor.app.db.urls import ASYNC_DRIVERS, SYNC_DRIVERS, choose_driver, is_pooled_host, normalize_url

SUPPORTED_DRIVERS = SYNC_DRIVERS

__all__ = [
    "ASYNC_DRIVERS", "DEFAULT_APPLICATION_NAME", "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_POOL_RECYCLE",
    "DEFAULT_POOL_TIMEOUT", "LOGGER_NAME", "PROFILES", "SUPPORTED_DRIVERS", "SYNC_DRIVERS", "TRANSIENT_MARKERS",
    "DriverArgs", "Health", "PoolObserver", "async_session_scope", "attach_pool_logging", "check_health",
    "check_health_async", "choose_driver", "connect_with_retry", "connect_with_retry_async", "create_async_engine",
    "create_engine", "driver_connect_args", "is_pooled_host", "is_transient", "make_async_sessionmaker",
    "make_sessionmaker", "normalize_url", "pool_counts", "retrying", "retrying_async", "session_scope",
]
