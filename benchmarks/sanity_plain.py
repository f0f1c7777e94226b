"""The sanity steps written by hand with plain SQLAlchemy: the reference `neondoctor sanity` is
compared against. Reads DATABASE_URL (postgresql+psycopg2://... or sqlite:///file.db). The tables
step compares the models with the database through Alembic's compare_metadata when Alembic is
installed (as `neondoctor sanity` does), else checks the table names.

    DATABASE_URL=postgresql+psycopg2://user:<password>@host/db python benchmarks/sanity_plain.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, delete, insert, inspect, select, text

metadata = MetaData()
marker = Table("plain_sanity_marker", metadata, Column("id", Integer, primary_key=True),
               Column("token", String(100), unique=True, nullable=False))


def make_engine(url: str):  # type: ignore[no-untyped-def]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=0, pool_timeout=5,
                         connect_args=connect_args)


def read_back(url: str, token: str) -> bool:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = conn.execute(select(marker.c.id).where(marker.c.token == token)).first() is not None
    engine.dispose()
    return found


def main() -> int:
    url = os.environ["DATABASE_URL"]
    if len(sys.argv) == 2 and sys.argv[1] == "--child":
        return 0 if read_back(url, os.environ["PLAIN_SANITY_TOKEN"]) else 1
    engine = make_engine(url)
    token = f"plain-sanity:{uuid.uuid4().hex}"

    def step(name: str, action) -> None:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        action()
        print(f"{name:<10} ok {(time.perf_counter() - start) * 1000:8.1f} ms")

    def health() -> None:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1

    def tables() -> None:
        with engine.connect() as conn:
            assert all(inspect(conn).has_table(name) for name in metadata.tables)
            try:
                from alembic.autogenerate import compare_metadata
                from alembic.migration import MigrationContext
            except ImportError:
                return
            only_ours = {"include_name": lambda name, type_, _p: type_ != "table" or name in metadata.tables}
            context = MigrationContext.configure(conn, opts={"compare_type": True, **only_ours})
            assert compare_metadata(context, metadata) == []

    def round_trip() -> None:
        with engine.begin() as conn:
            conn.execute(insert(marker).values(token=token))
        with engine.connect() as conn:
            assert conn.execute(select(marker.c.id).where(marker.c.token == token)).first() is not None

    def restart() -> None:
        env = {**os.environ, "PLAIN_SANITY_TOKEN": token}
        subprocess.run([sys.executable, __file__, "--child"], env=env, check=True, timeout=60)

    try:
        step("health", health)
        step("schema", lambda: metadata.create_all(engine))
        step("tables", tables)
        step("round_trip", round_trip)
        step("restart", restart)
    finally:
        with engine.begin() as conn:
            conn.execute(delete(marker).where(marker.c.token == token))
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
