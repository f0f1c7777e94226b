"""Where a sanity run goes: DATABASE_URL checked for the run, the metadata to check, the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neondoctor import drivers
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
    driver_reason: str = ""  # which driver and why (neondoctor.drivers)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def driver(self) -> drivers.Driver | None:
        return drivers.get(self.url.get_driver_name()) if self.is_postgres else None

    @property
    def is_async(self) -> bool:
        return bool(self.driver and self.driver.is_async)


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
    except ValueError:  # SQLAlchemy reads the port with int(): "h1:5432,h2:5433" or "h:" end here
        netloc = text.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
        if "," in netloc:
            raise ConfigError(f"DATABASE_URL names several hosts ({netloc}): sanity checks one database through "
                              "SQLAlchemy, which takes several hosts only as ?host=h1:5432&host=h2:5433; "
                              "give one host or that form") from None
        raise ConfigError(f"DATABASE_URL has an empty or invalid port ({netloc}): "
                          "give the port number or leave out the ':'") from None
    if url.password:
        register_secret(str(url.password))
    # The URL's own driver; a bare postgresql:// gets this SQLAlchemy's default (psycopg 3 from 2.1),
    # psycopg2 when that one is not installed here.
    choice = drivers.choose(parsed)
    spoken, note = drivers.speaking(choice)
    reason = choice.reason + (f"; {note}" if note else "")
    if url.drivername == "postgresql":
        url = url.set(drivername=f"postgresql+{spoken.name}")
    return Target(url=url, masked=parsed.masked(), dialect="postgresql", driver_reason=reason)


def load_metadata(spec: str, *, timeout: float = DEFAULT_TIMEOUT) -> MetaData:
    """`module:attr` -> a MetaData (attr may be a declarative Base or a MetaData). The cwd is importable."""
    from sqlalchemy import MetaData

    from neondoctor.loader import load_object

    obj = load_object(spec, what="--metadata", timeout=timeout, example="myapp.models:Base")
    attr = spec.partition(":")[2]
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
    # The bounds in the driver's own terms (libpq connect_timeout/keepalives, asyncpg timeout).
    driver = target.driver
    query = {k: str(v) for k, v in target.url.query.items()}
    return drivers.engine_connect_args(driver.family if driver else "psycopg2", query, timeout=timeout,
                                       application_name=APPLICATION_NAME)


def make_engine(target: Target, *, timeout: int = DEFAULT_TIMEOUT) -> Engine:
    """A small bounded pool: pre-ping, 2 connections, checkout and connect bounded by `timeout`."""
    from sqlalchemy import create_engine, event

    try:
        options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 2, "max_overflow": 0, "pool_timeout": timeout,
                                   "connect_args": connect_args(target, timeout)}
        if target.is_async:
            # The sync API over the async driver; run_sanity calls it inside a greenlet (in_driver_context).
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(target.url, **options).sync_engine
        else:
            engine = create_engine(target.url, **options)
    except (ImportError, Exception) as exc:  # unknown driver, bad argument: nothing was checked
        raise ConfigError(f"cannot create an engine for {target.masked}: "
                          f"{type(exc).__name__}: {redact(str(exc))}") from None

    if target.is_postgres:
        @event.listens_for(engine, "begin")
        def _bound_transaction(conn: Connection) -> None:
            # Per transaction, because startup `options` are rejected by Neon's pooler. Placeholders in
            # the driver's own style (asyncpg numbers them).
            style = {"pyformat": ("%(s)s", "%(l)s"), "format": ("%s", "%s")}.get(conn.dialect.paramstyle,
                                                                               ("$1", "$2"))
            sql = (f"SELECT set_config('statement_timeout', {style[0]}, true), "
                   f"set_config('lock_timeout', {style[1]}, true)")
            values = (f"{STATEMENT_TIMEOUT_MS}ms", f"{LOCK_TIMEOUT_MS}ms")
            conn.exec_driver_sql(sql, {"s": values[0], "l": values[1]} if "%(" in sql else values)
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
