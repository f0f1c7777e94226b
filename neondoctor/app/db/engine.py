"""create_engine / create_async_engine: bounded, pre-pinged, recycled pools with every event logged.

Defaults follow the lesson: pool_size 5 + max_overflow 10 (the "small" profile, 3 + 5, suits free
tiers whose ~100 slots are shared by every process), pool_pre_ping, pool_recycle=3600, a 30 s
checkout timeout, a 10 s connect timeout. Sync engines use a QueuePool, async engines an
AsyncAdaptedQueuePool; both are subclassed per engine so checkout waits, timeouts and connect
latency reach the logs (and Prometheus when asked).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from neondoctor.app.db.connect_args import driver_connect_args
from neondoctor.app.db.logs import emit
from neondoctor.app.db.pool_events import PoolObserver, attach_pool_logging, observed_pool_class
from neondoctor.app.db.urls import choose_driver, is_pooled_host
from neondoctor.errors import ConfigError
from neondoctor.redaction import redact

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

PROFILES: dict[str, dict[str, int]] = {
    "default": {"pool_size": 5, "max_overflow": 10},
    "small": {"pool_size": 3, "max_overflow": 5},  # free tiers: ~100 slots shared by every process
}
DEFAULT_POOL_RECYCLE = 3600
DEFAULT_POOL_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_APPLICATION_NAME = "neondoctor-app"


def _resolve_url(url: str | None, env_file: str | None) -> str:
    if url is not None:
        return url
    from neondoctor.settings import load_database_url

    setting = load_database_url(env_file)
    if setting is None:
        raise ConfigError("DATABASE_URL is not set")
    return setting.url


def _build(url: str | None, *, use_async: bool, profile: str, pool_size: int | None, max_overflow: int | None,
           pool_recycle: int, pool_timeout: float, pool_pre_ping: bool, connect_timeout: int,
           application_name: str | None, pooled: bool | None, name: str | None, metrics: bool,
           metrics_registry: Any, env_file: str | None, engine_kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Everything both factories share: (sa_url, create_engine kwargs plus the bookkeeping keys)."""
    from sqlalchemy.engine import URL
    from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

    if profile not in PROFILES:
        raise ConfigError(f"unknown pool profile {profile!r}: one of {', '.join(PROFILES)}")
    choice = choose_driver(_resolve_url(url, env_file), use_async=use_async)
    parsed, driver = choice.parsed, choice.driver
    sizes = dict(PROFILES[profile])
    if pool_size is not None:
        sizes["pool_size"] = pool_size
    if max_overflow is not None:
        sizes["max_overflow"] = max_overflow
    is_pooled = is_pooled_host(parsed) if pooled is None else pooled
    app_name = application_name or parsed.query.get("application_name") or DEFAULT_APPLICATION_NAME
    dargs = driver_connect_args(parsed, driver, connect_timeout=connect_timeout, application_name=app_name,
                                pooled=is_pooled, extra=engine_kwargs.pop("connect_args", None))
    # Built from parts, so a password with unencoded special characters cannot be misparsed.
    sa_url = URL.create(drivername=f"postgresql+{driver}", username=parsed.username, password=parsed.password,
                        host=parsed.host, port=parsed.port, database=parsed.database, query=dargs.query)
    observer = PoolObserver(name=redact(name or app_name))
    if metrics or metrics_registry is not None:
        from neondoctor.app.db.metrics import engine_metrics

        observer.metrics = engine_metrics(observer.name, registry=metrics_registry)
    kwargs = dict(
        poolclass=observed_pool_class(AsyncAdaptedQueuePool if use_async else QueuePool, observer),
        pool_size=sizes["pool_size"], max_overflow=sizes["max_overflow"], pool_recycle=pool_recycle,
        pool_timeout=pool_timeout, pool_pre_ping=pool_pre_ping, connect_args=dargs.connect_args, **engine_kwargs,
    )
    info = dict(engine=observer.name, url=sa_url.render_as_string(hide_password=True), driver=driver,
                driver_reason=choice.reason, asyncio=use_async, profile=profile, pool_size=sizes["pool_size"],
                max_overflow=sizes["max_overflow"], pool_recycle=pool_recycle, pool_timeout=pool_timeout,
                pool_pre_ping=pool_pre_ping, connect_timeout=dargs.connect_timeout, application_name=app_name,
                pooled_host=is_pooled, prepared_statements=dargs.prepared_statements or None)
    return sa_url, {"kwargs": kwargs, "observer": observer, "info": info}


def _finish(engine: Any, built: dict[str, Any]) -> None:
    sync = getattr(engine, "sync_engine", engine)
    attach_pool_logging(sync, built["observer"])
    if built["observer"].metrics:
        built["observer"].metrics.track(sync)
    emit(logging.INFO, "db.engine.created", **built["info"])


def create_engine(
    url: str | None = None, *, profile: str = "default", pool_size: int | None = None,
    max_overflow: int | None = None, pool_recycle: int = DEFAULT_POOL_RECYCLE,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT, pool_pre_ping: bool = True,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT, application_name: str | None = None,
    pooled: bool | None = None, name: str | None = None, metrics: bool = False, metrics_registry: Any = None,
    env_file: str | None = None, **engine_kwargs: Any,
) -> Engine:
    """A sync engine (psycopg2 or psycopg 3) with a logged, bounded QueuePool. URL defaults to DATABASE_URL.

    `pooled` forces (or disables) the transaction-pooler settings; by default a Neon `-pooler`
    host or port 6432 turns them on. `name` labels logs and metrics (default: application_name).
    `metrics=True` registers Prometheus metrics on the default registry, `metrics_registry=` on another.
    """
    import sqlalchemy

    sa_url, built = _build(url, use_async=False, profile=profile, pool_size=pool_size, max_overflow=max_overflow,
                           pool_recycle=pool_recycle, pool_timeout=pool_timeout, pool_pre_ping=pool_pre_ping,
                           connect_timeout=connect_timeout, application_name=application_name, pooled=pooled,
                           name=name, metrics=metrics, metrics_registry=metrics_registry, env_file=env_file,
                           engine_kwargs=engine_kwargs)
    engine = sqlalchemy.create_engine(sa_url, **built["kwargs"])
    _finish(engine, built)
    return engine


def create_async_engine(
    url: str | None = None, *, profile: str = "default", pool_size: int | None = None,
    max_overflow: int | None = None, pool_recycle: int = DEFAULT_POOL_RECYCLE,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT, pool_pre_ping: bool = True,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT, application_name: str | None = None,
    pooled: bool | None = None, name: str | None = None, metrics: bool = False, metrics_registry: Any = None,
    env_file: str | None = None, **engine_kwargs: Any,
) -> AsyncEngine:
    """An AsyncEngine (psycopg 3 or asyncpg) with a logged, bounded AsyncAdaptedQueuePool; same options
    as `create_engine`. asyncpg URLs are translated: sslmode -> ssl, connect_timeout -> timeout."""
    try:
        from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine
    except ImportError as exc:  # pragma: no cover - greenlet missing
        raise ConfigError(f"async engines need SQLAlchemy[asyncio]: {exc}") from None

    sa_url, built = _build(url, use_async=True, profile=profile, pool_size=pool_size, max_overflow=max_overflow,
                           pool_recycle=pool_recycle, pool_timeout=pool_timeout, pool_pre_ping=pool_pre_ping,
                           connect_timeout=connect_timeout, application_name=application_name, pooled=pooled,
                           name=name, metrics=metrics, metrics_registry=metrics_registry, env_file=env_file,
                           engine_kwargs=engine_kwargs)
    engine = sa_create_async_engine(sa_url, **built["kwargs"])
    _finish(engine, built)
    return engine
