"""The app's own SQLAlchemy pool, read by importing its engine (`--engine MODULE:ATTR`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.findings import Finding


@dataclass(frozen=True)
class EnginePool:
    target: str
    pool_class: str
    size: int | None
    max_overflow: int | None
    checked_out: int | None
    overflow: int | None
    checked_in: int | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_engine_pool(target: str, cwd: str | None = None, *, timeout: float = 5.0) -> EnginePool:
    """Import MODULE:ATTR (cwd on sys.path) and read its SQLAlchemy engine's pool counters."""
    from neondoctor.loader import load_object

    obj = load_object(target, what="--engine", timeout=timeout, cwd=cwd)
    from neondoctor.app.introspect import NotAPool, describe_pool

    try:  # Engine, AsyncEngine, sessionmaker, psycopg_pool or asyncpg pool
        d = describe_pool(obj)
    except NotAPool as exc:
        raise ConfigError(f"--engine: {target}: {exc}") from None
    overflow_cap = d.max_overflow if d.max_overflow is not None or d.max_size is None or d.min_size is None \
        else d.max_size - d.min_size  # pools sized by min/max: the connections beyond min_size
    return EnginePool(
        target=target, pool_class=d.pool_class, size=d.min_size, max_overflow=overflow_cap,
        checked_out=d.checked_out, overflow=d.overflow, checked_in=d.checked_in, status=d.status or "",
    )



def engine_finding(pool: EnginePool) -> Finding:
    desc = (f"{pool.target}: {pool.pool_class} size {pool.size}, max_overflow {pool.max_overflow}, "
            f"checked out {pool.checked_out}, overflow {pool.overflow}, checked in {pool.checked_in}")
    if pool.max_overflow is not None and pool.max_overflow < 0:
        return Finding("engine-pool", "warn", desc + ": max_overflow=-1 puts no upper bound on connections "
                       "per process; set a finite max_overflow so the worst case can be sized")
    if pool.size is not None and pool.max_overflow is not None and pool.checked_out is not None \
            and pool.max_overflow >= 0 and pool.checked_out >= pool.size + pool.max_overflow:
        return Finding("engine-pool", "warn", desc + ": exhausted, the next checkout waits for pool_timeout")
    return Finding("engine-pool", "info", desc)


