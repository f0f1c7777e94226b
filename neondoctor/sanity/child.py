"""The restart step's child: run as `python -P -c <this file's text>` in a brand-new interpreter.

It imports the DB-API driver and nothing else: no neondoctor, no SQLAlchemy (interpreter start-up
is most of the step's time). The parent hands it, in the environment and never argv (`ps` shows
argv to every user), the driver module, its connect arguments and the statements to run, already
compiled by SQLAlchemy for that driver. A driver SQLAlchemy wraps (asyncpg) comes as a URL instead,
and then SQLAlchemy's core does the connecting. It prints one JSON line: {"pid", "found"} or
{"pid", "error"}; the parent redacts and judges it.
"""

import json
import os
import sys


def _direct(plan: dict) -> object:
    import importlib

    driver = importlib.import_module(plan["dbapi"])
    conn = driver.connect(*plan["args"], **plan["kwargs"])
    try:
        cur = conn.cursor()
        for sql, params in plan["statements"]:
            cur.execute(sql, params)
        row = cur.fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def _through_async_sqlalchemy(plan: dict) -> object:
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def read() -> object:
        engine = create_async_engine(plan["url"], poolclass=NullPool, connect_args=plan["kwargs"])
        try:
            async with engine.connect() as conn:
                result = None
                for sql, params in plan["statements"]:
                    result = await conn.execute(text(sql), params)
                return result.scalar() if result is not None else None
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _through_sqlalchemy(plan: dict) -> object:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    if plan.get("is_async"):  # asyncpg, psycopg_async: SQLAlchemy's async engine drives them
        return _through_async_sqlalchemy(plan)
    engine = create_engine(plan["url"], poolclass=NullPool, connect_args=plan["kwargs"])
    try:
        with engine.connect() as conn:
            result = None
            for sql, params in plan["statements"]:
                result = conn.execute(text(sql), params)
            return result.scalar() if result is not None else None
    finally:
        engine.dispose()


def main() -> int:
    answer: dict = {"pid": os.getpid()}
    try:
        plan = json.loads(os.environ["NEONDOCTOR_SANITY_PLAN"])
    except (KeyError, ValueError) as exc:
        print(json.dumps({**answer, "error": f"bad environment: {type(exc).__name__}: {exc}"}))
        return 2
    try:
        answer["found"] = _direct(plan) if plan.get("dbapi") else _through_sqlalchemy(plan)
    except Exception as exc:  # the parent turns this into the step's error
        orig = getattr(exc, "orig", None) or exc
        answer["error"] = f"{type(orig).__name__}: {orig}"
    print(json.dumps(answer, default=str))
    return 0 if answer.get("found") else (2 if "error" in answer else 1)


if __name__ == "__main__":
    sys.exit(main())
