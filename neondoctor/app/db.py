"""The engine factory apps should use: bounded, pre-pinged, recycled, and every pool event logged.

    from neondoctor.app.db import create_engine, check_health, session_scope

    engine = create_engine()                 # DATABASE_URL from the environment or .env
    check_health(engine)                     # logs db.health at start-up
    with session_scope(engine) as session:   # commit on success, rollback on error, always close
        session.execute(...)

Defaults follow the lesson: QueuePool 5 + 10 overflow, pool_pre_ping, pool_recycle=3600, 30 s
checkout timeout, connect_timeout=10. The "small" profile (3 + 5) suits free tiers whose
max_connections is around 100 shared by every process.

A bare `postgresql://` is pinned to psycopg2: SQLAlchemy 2.1 would pick psycopg 3 for it, which
is not a dependency. `postgres://` (rejected by SQLAlchemy) is rewritten with a logged warning.
Log events carry no password: the structlog redaction processor masks URLs, DSNs and error texts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from neondoctor.errors import ConfigError
from neondoctor.log import get_logger
from neondoctor.url import ParsedUrl, parse_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session, sessionmaker

PROFILES: dict[str, dict[str, int]] = {
    "default": {"pool_size": 5, "max_overflow": 10},
    "small": {"pool_size": 3, "max_overflow": 5},  # free tiers: ~100 slots shared by every process
}
DEFAULT_POOL_RECYCLE = 3600
DEFAULT_POOL_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_APPLICATION_NAME = "neondoctor-app"
SUPPORTED_DRIVERS = ("psycopg2", "psycopg")
# Texts of connection failures worth another attempt (cold start, restart, network blip, full slots).
TRANSIENT_MARKERS = (
    "connection refused", "timeout expired", "could not connect", "closed the connection unexpectedly",
    "terminating connection", "couldn't connect to compute node", "too many clients",
    "remaining connection slots are reserved", "the database system is starting up",
    "the database system is shutting down", "ssl syscall error", "connection timed out",
    "temporary failure in name resolution", "server closed the connection",
)

log = get_logger("neondoctor.app.db")
T = TypeVar("T")


def normalize_url(raw: str) -> tuple[ParsedUrl, str]:
    """(parsed URL, driver to use). Rewrites postgres:// and pins a bare postgresql:// to psycopg2."""
    parsed = parse_url(raw)
    driver = parsed.driver
    if parsed.dialect == "postgres":
        log.warning("db.url.normalized", reason="postgres:// is rejected by SQLAlchemy (NoSuchModuleError)",
                    was="postgres://", now=f"postgresql+{driver or 'psycopg2'}://")
    if driver is None:
        driver = "psycopg2"
        log.info("db.url.driver", driver=driver,
                 reason="no +driver in the URL; SQLAlchemy 2.1 would pick psycopg 3, neondoctor pins psycopg2")
    if driver not in SUPPORTED_DRIVERS:
        raise ConfigError(f"neondoctor.app.db builds sync engines for {' or '.join(SUPPORTED_DRIVERS)}; "
                          f"the URL names +{driver}")
    from neondoctor.audit.url_audit import driver_installed

    if not driver_installed(driver):
        raise ConfigError(f"driver {driver} is not installed: pip install {'psycopg2-binary' if driver == 'psycopg2' else 'psycopg[binary]'}")
    return parsed, driver


def _sqlalchemy_url(parsed: ParsedUrl, driver: str) -> Any:
    from sqlalchemy.engine import URL

    # Built from parts, so a password with unencoded special characters cannot be misparsed.
    return URL.create(
        drivername=f"postgresql+{driver}",
        username=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=dict(parsed.query),
    )


def _bounded_timeout(parsed: ParsedUrl, connect_timeout: int) -> int:
    # libpq: 0 or absent waits forever and the minimum is 2; the URL may only make it shorter.
    given = parsed.query.get("connect_timeout", "").strip()
    bound = max(2, int(connect_timeout))
    if given.isdigit() and 0 < int(given) < bound:
        return max(2, int(given))
    return bound


def create_engine(
    url: str | None = None,
    *,
    profile: str = "default",
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_recycle: int = DEFAULT_POOL_RECYCLE,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    pool_pre_ping: bool = True,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    application_name: str | None = None,
    echo_pool: bool | str = False,
    env_file: str | None = None,
    **engine_kwargs: Any,
) -> Engine:
    """A SQLAlchemy engine with a logged, bounded QueuePool. URL defaults to DATABASE_URL."""
    import sqlalchemy

    if profile not in PROFILES:
        raise ConfigError(f"unknown pool profile {profile!r}: one of {', '.join(PROFILES)}")
    if url is None:
        from neondoctor.settings import load_database_url

        setting = load_database_url(env_file)
        assert setting is not None
        url = setting.url
    parsed, driver = normalize_url(url)
    sizes = dict(PROFILES[profile])
    if pool_size is not None:
        sizes["pool_size"] = pool_size
    if max_overflow is not None:
        sizes["max_overflow"] = max_overflow
    connect_args = dict(engine_kwargs.pop("connect_args", {}))
    connect_args["connect_timeout"] = _bounded_timeout(parsed, connect_timeout)
    connect_args.setdefault("application_name",
                            application_name or parsed.query.get("application_name") or DEFAULT_APPLICATION_NAME)
    sa_url = _sqlalchemy_url(parsed, driver)
    engine = sqlalchemy.create_engine(
        sa_url,
        poolclass=_logging_queue_pool(),
        pool_size=sizes["pool_size"],
        max_overflow=sizes["max_overflow"],
        pool_recycle=pool_recycle,
        pool_timeout=pool_timeout,
        pool_pre_ping=pool_pre_ping,
        echo_pool=echo_pool,
        connect_args=connect_args,
        **engine_kwargs,
    )
    attach_pool_logging(engine)
    log.info("db.engine.created", url=sa_url.render_as_string(hide_password=True), driver=driver, profile=profile,
             pool_size=sizes["pool_size"], max_overflow=sizes["max_overflow"], pool_recycle=pool_recycle,
             pool_timeout=pool_timeout, pool_pre_ping=pool_pre_ping,
             connect_timeout=connect_args["connect_timeout"], application_name=connect_args["application_name"])
    return engine


def pool_counts(pool: Any) -> dict[str, Any]:
    """checked_out / idle / overflow / capacity of a QueuePool (what an exhaustion log needs)."""
    counts: dict[str, Any] = {}
    for name in ("size", "checkedout", "checkedin", "overflow"):
        fn = getattr(pool, name, None)
        if callable(fn):
            counts[name] = fn()
    if "size" in counts:
        counts["capacity"] = counts["size"] + max(0, getattr(pool, "_max_overflow", 0))
    return counts


_POOL_CLASS: Any = None


def _logging_queue_pool() -> Any:
    """QueuePool that logs exhaustion (the checkout that timed out) with the checked-out counts."""
    global _POOL_CLASS
    if _POOL_CLASS is None:
        from sqlalchemy import exc
        from sqlalchemy.pool import QueuePool

        class LoggingQueuePool(QueuePool):
            def _do_get(self) -> Any:
                started = time.monotonic()
                try:
                    return super()._do_get()
                except exc.TimeoutError:
                    log.error("pool.exhausted", waited_s=round(time.monotonic() - started, 3),
                              timeout_s=self.timeout(), **pool_counts(self),
                              hint="raise pool_size/max_overflow within the server's slots, or find held connections")
                    raise

        _POOL_CLASS = LoggingQueuePool
    return _POOL_CLASS


def attach_pool_logging(engine: Engine) -> None:
    """Log connect, checkout/checkin (debug), invalidations and full-pool checkouts through structlog."""
    from sqlalchemy import event

    pool = engine.pool
    stats = {"connects": 0, "invalidations": 0}

    @event.listens_for(pool, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        stats["connects"] += 1
        log.info("pool.connect", connects=stats["connects"], reconnect=stats["invalidations"] > 0,
                 **pool_counts(pool))

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        counts = pool_counts(pool)
        log.debug("pool.checkout", **counts)
        if counts.get("capacity") and counts.get("checkedout", 0) >= counts["capacity"]:
            log.warning("pool.full", **counts, hint="the next checkout waits up to pool_timeout")

    @event.listens_for(pool, "checkin")
    def _on_checkin(dbapi_conn: Any, record: Any) -> None:
        log.debug("pool.checkin", **pool_counts(pool))

    @event.listens_for(pool, "invalidate")
    def _on_invalidate(dbapi_conn: Any, record: Any, exception: BaseException | None) -> None:
        stats["invalidations"] += 1
        log.warning("pool.invalidate", invalidations=stats["invalidations"], error=_error_text(exception))

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        # Carries the driver's own error, including the one a pre-ping saw on a dead connection.
        if context.is_disconnect:
            log.warning("db.disconnect", pre_ping=bool(getattr(context, "is_pre_ping", False)),
                        invalidate_pool=bool(context.invalidate_pool_on_disconnect),
                        error=_error_text(context.original_exception))

    @event.listens_for(pool, "soft_invalidate")
    def _on_soft_invalidate(dbapi_conn: Any, record: Any, exception: BaseException | None) -> None:
        log.info("pool.soft_invalidate", error=_error_text(exception))


def _error_text(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    if type(exc).__name__ == "InvalidatePoolError":
        return "pool invalidated: a connection was found dead (pre-ping or disconnect)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"


def is_transient(exc: BaseException) -> bool:
    """A connection failure another attempt may fix (not bad credentials, not a missing database)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


def retrying(fn: Callable[[], T], *, attempts: int = 3, backoff: float = 0.5, max_backoff: float = 5.0,
             what: str = "db.operation", transient: Callable[[BaseException], bool] = is_transient) -> T:
    """Call fn; on a transient failure wait (exponential backoff, bounded) and try again, logging each retry."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            result = fn()
        except Exception as exc:
            if attempt >= attempts or not transient(exc):
                log.error(f"{what}.failed", attempt=attempt, attempts=attempts, transient=transient(exc),
                          error=_error_text(exc))
                raise
            log.warning(f"{what}.retry", attempt=attempt, attempts=attempts, retry_in_s=round(delay, 3),
                        error=_error_text(exc))
            time.sleep(delay)
            delay = min(max_backoff, delay * 2)
        else:
            if attempt > 1:
                log.info(f"{what}.recovered", attempt=attempt, retries=attempt - 1)
            return result
    raise AssertionError("unreachable")


def connect_with_retry(engine: Engine, *, attempts: int = 3, backoff: float = 0.5,
                       max_backoff: float = 5.0) -> Connection:
    """engine.connect() with bounded retries for transient failures (cold start, restart, blip)."""
    return retrying(engine.connect, attempts=attempts, backoff=backoff, max_backoff=max_backoff,
                    what="db.connect")


@dataclass(frozen=True)
class Health:
    ok: bool
    latency_ms: float
    server_version: str | None = None
    error: str | None = None


def check_health(engine: Engine, *, attempts: int = 3, backoff: float = 0.5) -> Health:
    """`SELECT 1` through the pool, logged as db.health (call it at start-up). Never raises."""
    from sqlalchemy import text

    started = time.perf_counter()
    try:
        with connect_with_retry(engine, attempts=attempts, backoff=backoff) as conn:
            conn.execute(text("SELECT 1")).scalar_one()
            version = conn.execute(text("SHOW server_version")).scalar_one()
    except Exception as exc:
        health = Health(False, round((time.perf_counter() - started) * 1000, 2), error=_error_text(exc))
        log.error("db.health", ok=False, latency_ms=health.latency_ms, error=health.error,
                  url=engine.url.render_as_string(hide_password=True))
        return health
    health = Health(True, round((time.perf_counter() - started) * 1000, 2), str(version))
    log.info("db.health", ok=True, latency_ms=health.latency_ms, server_version=health.server_version,
             url=engine.url.render_as_string(hide_password=True), **pool_counts(engine.pool))
    return health


def make_sessionmaker(engine: Engine, **kwargs: Any) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    kwargs.setdefault("expire_on_commit", False)
    return sessionmaker(bind=engine, **kwargs)


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
        log.info("db.session.rollback", error=_error_text(exc))
        raise
    finally:
        session.close()
