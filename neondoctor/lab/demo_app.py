"""The app's side of a demo scenario, in the scenario's driver (psycopg2, psycopg, psycopg_async, asyncpg).

For an async driver, SQLAlchemy's sync API runs inside a greenlet on a private event loop (what
AsyncEngine.run_sync does); the loop is idle while triage runs, so probes may open loops of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


class App:
    """One scenario's app: engines in its driver, and `run` to call SQLAlchemy's sync API on them."""

    def __init__(self, driver: str) -> None:
        from neondoctor import drivers

        known = drivers.get(driver)
        self.is_async = bool(known and known.is_async)
        self.asyncpg = driver == "asyncpg"
        self._loop: Any = None

    def engine(self, url: str, **kwargs: Any) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.ext.asyncio import create_async_engine

        if self.asyncpg:  # libpq's connect_timeout is not an asyncpg parameter
            kwargs.setdefault("connect_args", {"timeout": 5})
        return create_async_engine(url, **kwargs).sync_engine if self.is_async else create_engine(url, **kwargs)

    def run(self, fn: Callable[[], Any]) -> Any:
        if not self.is_async:
            return fn()
        import asyncio

        from sqlalchemy.util import greenlet_spawn

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop.set_exception_handler(lambda loop, context: None)
        return self._loop.run_until_complete(greenlet_spawn(fn))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


@contextlib.contextmanager
def app_in(driver: str) -> Iterator[App]:
    """An App for `driver`, its event loop closed after."""
    app = App(driver)
    try:
        yield app
    finally:
        app.close()


def connect_app(app: App, url: str, **engine_kwargs: Any) -> None:
    """What the app does first: a new engine, one connection, SELECT 1, the engine disposed."""
    from sqlalchemy import text

    def connect() -> None:
        engine = app.engine(url, **engine_kwargs)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    app.run(connect)
