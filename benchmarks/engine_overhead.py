"""Cost of neondoctor.db's observed pool per checkout, against a plain SQLAlchemy engine with the
same pool settings, for each driver (sync and async), side by side in the same run.

Run: uv run python benchmarks/engine_overhead.py [--n 3000] [--rounds 3] [--pool-only]

One checkout = connect() from the pool (pre-ping on), `SELECT 1`, close() back to the pool, in a
loop on one warm connection. With --pool-only: pre-ping off and no statement, so no server round
trip happens and the figure is the pool's own Python cost (where an overhead would show). Three configurations per driver: plain `sqlalchemy.create_engine`
(`create_async_engine`), `neondoctor.db` with no logging configured (the library default), and
`neondoctor.db` with Prometheus metrics on. Rounds are interleaved; the median round is reported.
Times are this process's CPU time (`time.process_time`), not wall time: the machine is shared, and
the factory's cost is CPU; the server's work is the same for all three.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine as sa_async

from neondoctor import db
from neondoctor.lab.cluster import LabSpec, find_install, temporary_cluster

POOL = {"pool_size": 5, "max_overflow": 10, "pool_pre_ping": True, "pool_recycle": 3600, "pool_timeout": 30}


def engines(url: str, use_async: bool, tag: str, pool: dict[str, Any]) -> dict[str, Any]:
    plain_url = url.replace("?connect_timeout=5", "") if "asyncpg" in url else url
    if use_async:
        return {"plain": sa_async(plain_url, **pool),
                "neondoctor.db": db.create_async_engine(url, name=f"{tag}-a", **pool),
                "neondoctor.db+metrics": db.create_async_engine(url, name=f"{tag}-b",
                                                                metrics_registry=CollectorRegistry(), **pool)}
    return {"plain": sqlalchemy.create_engine(url, **pool),
            "neondoctor.db": db.create_engine(url, name=f"{tag}-a", **pool),
            "neondoctor.db+metrics": db.create_engine(url, name=f"{tag}-b", metrics_registry=CollectorRegistry(),
                                                      **pool)}


def run_sync(engine: Any, n: int, query: bool) -> float:
    start = time.process_time()
    for _ in range(n):
        with engine.connect() as conn:
            if query:
                conn.execute(text("SELECT 1"))
    return (time.process_time() - start) / n


async def run_async(engine: Any, n: int, query: bool) -> float:
    start = time.process_time()
    for _ in range(n):
        async with engine.connect() as conn:
            if query:
                await conn.execute(text("SELECT 1"))
    return (time.process_time() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pool-only", action="store_true")
    args = ap.parse_args()
    query = not args.pool_only
    pool = dict(POOL, pool_pre_ping=query)
    with temporary_cluster(LabSpec(max_connections=100), find_install()) as lab:
        print(f"PostgreSQL {lab.major}, SQLAlchemy {sqlalchemy.__version__}, {args.n} checkouts x {args.rounds} rounds, "
              + ("pool only (no pre-ping, no statement)" if args.pool_only else "pre-ping + SELECT 1"))
        for driver, use_async in (("psycopg2", False), ("psycopg", False), ("psycopg", True), ("asyncpg", True)):
            label = f"{driver} {'async' if use_async else 'sync'}"
            built = engines(lab.app_url(driver=driver), use_async, label.replace(" ", "-"), pool)
            times: dict[str, list[float]] = {k: [] for k in built}

            async def async_rounds(built: dict[str, Any] = built, times: dict[str, list[float]] = times) -> None:
                # One event loop for every round: asyncio connections cannot move between loops.
                for _ in range(args.rounds):
                    for name, engine in built.items():
                        times[name].append(await run_async(engine, args.n, query))
                for engine in built.values():
                    await engine.dispose()

            if use_async:
                asyncio.run(async_rounds())
            else:
                for _ in range(args.rounds):
                    for name, engine in built.items():
                        times[name].append(run_sync(engine, args.n, query))
                for engine in built.values():
                    engine.dispose()
            base = statistics.median(times["plain"])
            for name, ts in times.items():
                med = statistics.median(ts)
                print(f"  {label:15} {name:22} {med * 1e6:8.1f} µs CPU/checkout  {med / base:5.2f}×")


if __name__ == "__main__":
    main()
