"""Where a sanity run goes: DATABASE_URL checked for the run, the metadata to check, the engine."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neondoctor.errors import ConfigError
from neondoctor.redaction import redact, register_secret

if TYPE_CHECKING:
    from sqlalchemy import URL, Connection, Engine, MetaData

DEFAULT_TIMEOUT = 5  # seconds: libpq connect_timeout, pool checkout timeout
STATEMENT_TIMEOUT_MS = 15_000  # per transaction, SET LOCAL (Neon's pooler rejects startup options)
LOCK_TIMEOUT_MS = 10_000
APPLICATION_NAME = "neondoctor-sanity"


@dataclass(frozen=True)
class Target:
    url: URL  # normalized, with the password (never shown)
    masked: str
    dialect: str  # "postgresql" or "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"


def resolve_target(raw: str) -> Target:
    """Validate DATABASE_URL for the sanity run (ConfigError, exit 2, on a mistake)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = (raw or "").strip()
    if not text:
        raise ConfigError("DATABASE_URL is empty")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme.split("+", 1)[0] == "postgres":
        raise ConfigError("DATABASE_URL uses the scheme postgres://, which SQLAlchemy rejects: "
                          "write postgresql:// (or postgresql+psycopg2://)")
    if scheme.split("+", 1)[0] == "sqlite":
        try:
            url = make_url(text)
        except ArgumentError as exc:
            raise ConfigError(f"DATABASE_URL is malformed: {exc}") from None
        if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
            raise ConfigError("an in-memory SQLite database cannot survive a restart: use sqlite:///path/to/file.db")
        return Target(url=url, masked=url.render_as_string(hide_password=True), dialect="sqlite")

    from neondoctor.url import parse_url

    parsed = parse_url(text)  # strict checks, and registers the password for redaction
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is malformed: {redact(str(exc))}") from None
    if url.password:
        register_secret(str(url.password))
    if url.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; neondoctor ships psycopg2.
        url = url.set(drivername="postgresql+psycopg2")
    return Target(url=url, masked=parsed.masked(), dialect="postgresql")


def load_metadata(spec: str) -> MetaData:
    """`module:attr` -> a MetaData (attr may be a declarative Base or a MetaData). The cwd is importable."""
    from sqlalchemy import MetaData

    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise ConfigError(f"--metadata {spec!r}: expected MODULE:ATTR, e.g. myapp.models:Base")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error while importing user code is a configuration error
        raise ConfigError(f"--metadata {spec!r}: cannot import {module_name!r}: "
                          f"{type(exc).__name__}: {redact(str(exc))}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"--metadata {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    metadata = obj if isinstance(obj, MetaData) else getattr(obj, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise ConfigError(f"--metadata {spec!r}: {attr!r} is a {type(obj).__name__}, "
                          "not a declarative Base or a MetaData")
    if not metadata.tables:
        raise ConfigError(f"--metadata {spec!r}: the metadata holds no tables")
    return metadata


# -- engine ----------------------------------------------------------------------------------------

def connect_args(target: Target, timeout: int = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """The driver's connect arguments: connecting bounded by `timeout`, the run named in pg_stat_activity."""
    if not target.is_postgres:
        return {"timeout": timeout}
    query_timeout = target.url.query.get("connect_timeout")
    try:
        connect_timeout = min(int(str(query_timeout)), timeout) if query_timeout else timeout
    except ValueError:
        raise ConfigError(f"DATABASE_URL connect_timeout={query_timeout!r} is not a number") from None
    # libpq treats 0 as "wait forever" and 1 as 2; keep it bounded.
    return {"connect_timeout": max(connect_timeout, 2), "application_name": APPLICATION_NAME}


def make_engine(target: Target, *, timeout: int = DEFAULT_TIMEOUT) -> Engine:
    """A small bounded pool: pre-ping, 2 connections, checkout and connect bounded by `timeout`."""
    from sqlalchemy import create_engine, event

    try:
        engine = create_engine(target.url, pool_pre_ping=True, pool_size=2, max_overflow=0,
                               pool_timeout=timeout, connect_args=connect_args(target, timeout))
    except (ImportError, Exception) as exc:  # unknown driver, bad argument: nothing was checked
        raise ConfigError(f"cannot create an engine for {target.masked}: "
                          f"{type(exc).__name__}: {redact(str(exc))}") from None

    if target.is_postgres:
        @event.listens_for(engine, "begin")
        def _bound_transaction(conn: Connection) -> None:
            # Per transaction, because startup `options` are rejected by Neon's pooler.
            conn.exec_driver_sql("SELECT set_config('statement_timeout', %(s)s, true), "
                                 "set_config('lock_timeout', %(l)s, true)",
                                 {"s": f"{STATEMENT_TIMEOUT_MS}ms", "l": f"{LOCK_TIMEOUT_MS}ms"})
    return engine


def make_read_only(engine: Engine, target: Target) -> None:
    """Every transaction of `engine` READ ONLY: the server itself refuses any write or DDL.

    Per transaction (SET TRANSACTION READ ONLY as its first statement), not per session, so it holds
    behind a transaction-mode pooler too. SQLite: PRAGMA query_only on each new connection.
    """
    from sqlalchemy import event

    if target.is_postgres:
        def _read_only(conn: Connection) -> None:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")

        # insert=True: before the timeout listener, since SET TRANSACTION must come before any query.
        event.listen(engine, "begin", _read_only, insert=True)
    else:
        def _query_only(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA query_only = ON")

        event.listen(engine, "connect", _query_only)
