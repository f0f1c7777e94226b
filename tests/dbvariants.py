"""One interface over the four engine kinds (psycopg2, psycopg sync, psycopg async, asyncpg), so the
same real-server scenario runs against each. Test bodies are coroutines; sync calls just block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from neondoctor import db


@dataclass(frozen=True)
class Variant:
    driver: str
    use_async: bool

    @property
    def id(self) -> str:
        return f"{self.driver}-{'async' if self.use_async else 'sync'}"

    def make(self, url: str, **kwargs: Any) -> Any:
        factory = db.create_async_engine if self.use_async else db.create_engine
        return factory(url, **kwargs)

    async def checkout(self, engine: Any) -> Any:
        if self.use_async:
            return await engine.connect().start()
        return engine.connect()

    async def scalar(self, conn: Any, sql: str) -> Any:
        result = conn.execute(text(sql))
        if self.use_async:
            result = await result
        return result.scalar_one()

    async def release(self, conn: Any) -> None:
        if self.use_async:
            await conn.close()
        else:
            conn.close()

    async def dbapi(self, conn: Any) -> Any:
        """The driver's own connection object (psycopg/psycopg2/asyncpg)."""
        if self.use_async:
            raw = await conn.get_raw_connection()
            return raw.dbapi_connection.driver_connection
        return conn.connection.dbapi_connection

    async def health(self, engine: Any, **kwargs: Any) -> db.Health:
        if self.use_async:
            return await db.check_health_async(engine, **kwargs)
        return db.check_health(engine, **kwargs)

    async def connect_with_retry(self, engine: Any, **kwargs: Any) -> Any:
        if self.use_async:
            return await db.connect_with_retry_async(engine, **kwargs)
        return db.connect_with_retry(engine, **kwargs)

    async def dispose(self, engine: Any) -> None:
        if self.use_async:
            await engine.dispose()
        else:
            engine.dispose()

    def url(self, lab: Any, **kwargs: Any) -> str:
        return lab.app_url(driver=self.driver, **kwargs)


VARIANTS = [Variant("psycopg2", False), Variant("psycopg", False), Variant("psycopg", True), Variant("asyncpg", True)]
