"""What an application's pool object is configured to do, whatever kind of object it is.

`describe_pool(obj)` accepts what `--engine module:attr` finds in real apps: a SQLAlchemy
`Engine` or `AsyncEngine`, a `sessionmaker`/`async_sessionmaker` (its bound engine), a
`psycopg_pool.ConnectionPool`/`AsyncConnectionPool`, or an asyncpg `Pool`. Nothing connects and no
event loop is needed: settings and live counters are read from the object. Where a concept does not
exist for a kind (asyncpg pools have no pre-ping) the field is None and a note says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class NotAPool(TypeError):
    """The object is none of the pool kinds neondoctor understands."""


@dataclass(frozen=True)
class PoolDescription:
    kind: str  # "sqlalchemy.Engine", "sqlalchemy.AsyncEngine", "psycopg_pool.ConnectionPool", "asyncpg.Pool", ...
    pool_class: str
    driver: str | None
    min_size: int | None  # QueuePool pool_size / psycopg_pool min_size / asyncpg min_size
    max_size: int | None  # the most connections it opens; None when unbounded (max_overflow=-1)
    max_overflow: int | None  # SQLAlchemy only
    timeout: float | None  # seconds a checkout waits; None: no such setting
    pre_ping: bool | None  # checked before handing out; None: the kind has no such concept
    recycle: float | None  # max connection age in seconds; None: never
    max_idle: float | None  # idle connections closed after this many seconds; None: never/not a concept
    prepared: dict[str, Any] = field(default_factory=dict)  # prepared-statement settings
    checked_out: int | None = None
    checked_in: int | None = None
    overflow: int | None = None
    status: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{self.kind} ({self.pool_class})", f"pre_ping={self.pre_ping}", f"recycle={self.recycle}",
                 f"min_size={self.min_size}", f"max_size={self.max_size}"]
        if self.timeout is not None:
            parts.append(f"timeout={self.timeout:g}")
        parts += [f"{k}={v}" for k, v in self.prepared.items()]
        return ", ".join(parts)


def describe_pool(obj: Any) -> PoolDescription:
    """Normalized pool settings of `obj`; NotAPool when it is none of the supported kinds."""
    module = type(obj).__module__ or ""
    name = type(obj).__name__
    if module.startswith("sqlalchemy"):
        if hasattr(obj, "sync_engine"):
            return _engine(obj.sync_engine, "sqlalchemy.AsyncEngine")
        if hasattr(obj, "pool") and hasattr(obj, "dialect"):
            return _engine(obj, "sqlalchemy.Engine")
        if name in ("sessionmaker", "async_sessionmaker"):
            bind = obj.kw.get("bind")
            if bind is None:
                raise NotAPool(f"this {name} is not bound to an engine (sessionmaker(bind=engine))")
            inner = describe_pool(bind)
            return _replace(inner, kind=f"sqlalchemy.{name} -> {inner.kind}")
    if module.startswith("psycopg_pool"):
        return _psycopg_pool(obj)
    if module.startswith("asyncpg") and hasattr(obj, "get_max_size"):
        return _asyncpg_pool(obj)
    raise NotAPool(f"{module}.{name} is not a SQLAlchemy Engine/AsyncEngine/sessionmaker, a psycopg_pool "
                   "pool or an asyncpg Pool")


def _replace(desc: PoolDescription, **changes: Any) -> PoolDescription:
    return PoolDescription(**{**asdict(desc), **changes})


def connect_params(engine: Any) -> dict[str, Any]:
    """The keyword arguments the engine passes to the driver's connect() (URL query + connect_args).

    SQLAlchemy keeps them only in the closure of the creator it builds in create_engine; a custom
    `creator=` or `async_creator=` hides them (then {}).
    """
    creator = getattr(engine.pool, "_creator", None)
    code = getattr(creator, "__code__", None)
    if code is None or not creator.__closure__:
        return {}
    for var, cell in zip(code.co_freevars, creator.__closure__, strict=False):
        if var == "cparams":
            try:
                return dict(cell.cell_contents)
            except (ValueError, TypeError):
                return {}
    return {}


def _engine(engine: Any, kind: str) -> PoolDescription:
    pool = engine.pool
    driver = engine.dialect.driver
    params = connect_params(engine)
    prepared: dict[str, Any] = {}
    notes: list[str] = []
    if driver == "asyncpg":
        prepared["prepared_statement_cache_size"] = int(params.get("prepared_statement_cache_size", 100))
        prepared["statement_cache_size"] = int(params.get("statement_cache_size", 100))
    elif driver.startswith("psycopg") and driver != "psycopg2":
        prepared["prepare_threshold"] = params.get("prepare_threshold", 5)
    if not params:
        notes.append("connect arguments not readable (custom creator): prepared-statement settings unknown")
    sized = hasattr(pool, "size") and hasattr(pool, "_max_overflow")
    size = pool.size() if sized else None
    overflow_cap = pool._max_overflow if sized else None
    recycle = getattr(pool, "_recycle", -1)

    def count(method: str) -> int | None:
        fn = getattr(pool, method, None)
        return int(fn()) if callable(fn) else None

    overflow = count("overflow")
    return PoolDescription(
        kind=kind, pool_class=type(pool).__name__, driver=driver, min_size=size,
        max_size=(size + overflow_cap if overflow_cap >= 0 else None) if sized else None,
        max_overflow=overflow_cap, timeout=pool.timeout() if hasattr(pool, "timeout") else None,
        pre_ping=bool(getattr(pool, "_pre_ping", False)), recycle=recycle if recycle and recycle > 0 else None,
        max_idle=None, prepared=prepared, checked_out=count("checkedout"), checked_in=count("checkedin"),
        overflow=max(0, overflow) if overflow is not None else None, status=str(pool.status()), notes=tuple(notes),
    )


def _psycopg_pool(pool: Any) -> PoolDescription:
    stats = pool.get_stats()
    kwargs = dict(pool.kwargs or {})
    check = getattr(pool, "_check", None)  # the `check=` callback: psycopg_pool's pre-ping
    size = stats.get("pool_size", 0)
    available = stats.get("pool_available", 0)
    notes = ["pre-ping is the check= callback (e.g. ConnectionPool.check_connection)"]
    if getattr(pool, "_configure", None) is not None:
        notes.append("a configure= callback may change prepare_threshold per connection")
    return PoolDescription(
        kind=f"psycopg_pool.{type(pool).__name__}", pool_class=type(pool).__name__, driver="psycopg",
        min_size=pool.min_size, max_size=pool.max_size, max_overflow=None, timeout=float(pool.timeout),
        pre_ping=check is not None, recycle=float(pool.max_lifetime), max_idle=float(pool.max_idle),
        prepared={"prepare_threshold": kwargs.get("prepare_threshold", 5)},
        checked_out=max(0, size - available), checked_in=available, overflow=None,
        status=", ".join(f"{k}={v}" for k, v in sorted(stats.items())), notes=tuple(notes),
    )


def _asyncpg_pool(pool: Any) -> PoolDescription:
    kwargs = dict(getattr(pool, "_connect_kwargs", {}) or {})
    lifetime = getattr(pool, "_max_inactive_connection_lifetime", None)
    size, idle = pool.get_size(), pool.get_idle_size()
    return PoolDescription(
        kind="asyncpg.Pool", pool_class=type(pool).__name__, driver="asyncpg", min_size=pool.get_min_size(),
        max_size=pool.get_max_size(), max_overflow=None, timeout=None, pre_ping=None, recycle=None,
        max_idle=float(lifetime) if lifetime else None,
        prepared={"statement_cache_size": int(kwargs.get("statement_cache_size", 100))},
        checked_out=max(0, size - idle), checked_in=idle, overflow=None, status=f"size={size} idle={idle}",
        notes=("asyncpg pools do not check a connection before handing it out (no pre-ping); "
               "max_inactive_connection_lifetime closes idle ones",
               "acquire(timeout=...) is per call; the pool has no checkout timeout setting"),
    )
