"""Pooled checkout, measured through the URL's driver's own SQLAlchemy pool (QueuePool, or
AsyncAdaptedQueuePool for asyncpg), without and with pool_pre_ping, every sample under the watchdog."""

from __future__ import annotations

import time
from typing import Any

from neondoctor import drivers
from neondoctor.connect import APPLICATION_NAME, Stalled
from neondoctor.url import ParsedUrl
from neondoctor.watchdog import Watchdog

NO_CAP = 1_000_000  # deadlines: a long series of quick samples is fine, one stalled call is not


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def measure_pooled(parsed: ParsedUrl, driver: drivers.Driver, samples: int,
                   timeout: float) -> dict[str, list[float]]:
    """checkout + SELECT 1 + checkin through the driver's SQLAlchemy pool, without and with pool_pre_ping.

    The engines get their connections from `creator` with the bounded settings of neondoctor.connect;
    every sample runs under the watchdog, so a server that freezes mid-way ends the measurement."""
    from neondoctor.latency.measure import driver_error

    params = drivers.connect_params(parsed, driver.family, timeout=timeout, application_name=APPLICATION_NAME)
    dog = Watchdog(timeout)
    stages: dict[str, list[float]] = {"pooled": [], "pooled_pre_ping": []}
    try:
        if driver.family == "asyncpg":
            _pooled_async(params, stages, samples, timeout, dog)
        else:
            _pooled_sync(driver.family, params, stages, samples, timeout, dog)
    except Exception as exc:
        if dog.fired:
            raise Stalled(f"the server stopped answering during a pooled checkout: no reply within {timeout:g} s; "
                          "neondoctor closed the connection") from None
        raise driver_error(getattr(exc, "orig", None) or exc) from None
    return stages


def _pooled_sync(family: str, params: dict[str, Any], stages: dict[str, list[float]], samples: int, timeout: float,
                 dog: Watchdog) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import QueuePool

    module: Any = __import__(family)

    def creator() -> Any:  # a custom creator bypasses do_connect: track the connection here
        conn = module.connect(**params)
        dog.track(conn)
        return conn

    engines = {}
    try:
        for key, pre_ping in (("pooled", False), ("pooled_pre_ping", True)):
            engines[key] = create_engine(f"postgresql+{family}://", creator=creator,
                                         poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=timeout,
                                         pool_pre_ping=pre_ping)
            dog.track_engine(engines[key])
        query = text("SELECT 1")
        # Armed once (no thread start inside the timed region); every checkout and statement counts
        # as progress, so the deadline is per call, and there is no cap on the whole series.
        with dog.armed(rounds=NO_CAP):
            for engine in engines.values():
                for _ in range(3):  # the first checkout opens the connection; code paths warm up: not timed
                    with engine.connect() as conn:
                        conn.execute(query)
            # Interleaved, so that machine noise hits both variants alike.
            for _ in range(samples):
                for key, engine in engines.items():
                    start = time.perf_counter()
                    with engine.connect() as conn:
                        conn.execute(query)
                    stages[key].append(_ms(start))
    finally:
        for engine in engines.values():
            engine.dispose()


def _pooled_async(params: dict[str, Any], stages: dict[str, list[float]], samples: int, timeout: float,
                  dog: Watchdog) -> None:
    """The same through SQLAlchemy's asyncio engine (AsyncAdaptedQueuePool), on a private event loop."""
    import asyncio

    import asyncpg
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def creator() -> Any:  # a custom creator bypasses do_connect: track the connection here
        conn = await asyncpg.connect(**params)
        dog.track(conn)
        return conn

    async def main() -> None:
        engines = {}
        try:
            for key, pre_ping in (("pooled", False), ("pooled_pre_ping", True)):
                engines[key] = create_async_engine("postgresql+asyncpg://", async_creator=creator,
                                                   pool_size=1, max_overflow=0, pool_timeout=timeout,
                                                   pool_pre_ping=pre_ping)
                dog.track_engine(engines[key])
            query = text("SELECT 1")
            with dog.armed(rounds=NO_CAP):
                for engine in engines.values():
                    for _ in range(3):
                        async with engine.connect() as conn:
                            await conn.execute(query)
                for _ in range(samples):
                    for key, engine in engines.items():
                        start = time.perf_counter()
                        async with engine.connect() as conn:
                            await conn.execute(query)
                        stages[key].append(_ms(start))
        finally:
            for engine in engines.values():
                await engine.dispose()

    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda loop, context: None)  # futures of a connection the watchdog closed
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
