"""The deployment sanity sequence: five timed steps a CI job runs against DATABASE_URL.

1. health      SELECT 1 through a pooled engine with pool_pre_ping
2. schema      metadata.create_all(engine) (creates what is missing; never drops or alters)
3. tables      the inspector confirms every table of the metadata exists
4. round_trip  one marker row written, then read back in a new session
5. restart     a brand-new Python process reads the marker row back

The sequence stops at the first failure (later steps are `skipped`). Marker rows carry a unique
run token, so concurrent CI jobs never touch each other's rows; they are removed in `finally`, and
markers an interrupted run left behind are removed by the next run: on PostgreSQL as soon as the
run's liveness lock is free (see RunLiveness), on SQLite once they are an hour old. No row the
sequence did not create is ever written.

Run as `python -m neondoctor.sanity.sequence` this module is the child of step 5: it reads the URL and the
token from the environment (never argv, which `ps` shows to every user) and prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from neondoctor import drivers
from neondoctor.errors import ConfigError
from neondoctor.log import get_logger
from neondoctor.redaction import redact, register_secret
from neondoctor.watchdog import CANCEL_GRACE, Watchdog

if TYPE_CHECKING:
    from sqlalchemy import URL, Connection, Engine, MetaData, Table

STEP_NAMES = ("health", "schema", "tables", "round_trip", "restart")
DEFAULT_TIMEOUT = 5  # seconds: libpq connect_timeout, pool checkout timeout
STATEMENT_TIMEOUT_MS = 15_000  # per transaction, SET LOCAL (Neon's pooler rejects startup options)
LOCK_TIMEOUT_MS = 10_000
CHILD_TIMEOUT = 60.0  # seconds for the step-5 process, interpreter start-up included
MARKER_PREFIX = "neondoctor-sanity:"
LEFTOVER_AGE = 3600  # seconds: markers older than this belong to an interrupted run
MARKER_TABLE = "neondoctor_sanity_marker"
APPLICATION_NAME = "neondoctor-sanity"
BUDGET_SPEC = "neondoctor.app.budget.models:Base"
# Serialises concurrent create_all on PostgreSQL (two CI jobs on a fresh database would otherwise
# race on CREATE TABLE). Arbitrary constant, "nd-sanity" in ASCII.
_ADVISORY_KEY = 0x6E642D73616E

_TOKEN_RE = re.compile(r"^neondoctor-sanity:(?P<ts>\d{10}):(?P<uuid>[0-9a-f]{32})$")
_ENV_URL = "NEONDOCTOR_SANITY_URL"
_ENV_TOKEN = "NEONDOCTOR_SANITY_TOKEN"
_ENV_MODE = "NEONDOCTOR_SANITY_MODE"
_ENV_TIMEOUT = "NEONDOCTOR_SANITY_TIMEOUT"

StepHook = Callable[[str, "SanityReport"], None]
T = TypeVar("T")


# -- results ---------------------------------------------------------------------------------------

@dataclass
class StepResult:
    name: str
    status: str = "skipped"  # passed / failed / skipped
    duration_ms: float = 0.0
    detail: str = ""
    error: str | None = None  # the redacted error text of a failed step

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status,
                               "duration_ms": round(self.duration_ms, 2), "detail": self.detail}
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class SanityReport:
    database: str  # masked URL
    dialect: str
    metadata: str  # "module:attr" of the checked metadata
    token: str
    steps: list[StepResult] = field(default_factory=lambda: [StepResult(n) for n in STEP_NAMES])
    triage: dict[str, Any] | None = None
    cleanup: str = ""
    duration_ms: float = 0.0
    driver: str | None = None  # the driver the engine used, and why (neondoctor.drivers)
    driver_reason: str = ""

    @property
    def passed(self) -> bool:
        return all(s.status == "passed" for s in self.steps)

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "database": self.database,
            "dialect": self.dialect,
            "metadata": self.metadata,
            "driver": self.driver,
            "driver_reason": self.driver_reason,
            "run_token": self.token,
            "duration_ms": round(self.duration_ms, 2),
            "steps": [s.to_json() for s in self.steps],
            "cleanup": self.cleanup,
            "triage": self.triage,
        }


# -- configuration ---------------------------------------------------------------------------------

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

def make_engine(target: Target, *, timeout: int = DEFAULT_TIMEOUT) -> Engine:
    """A small bounded pool: pre-ping, 2 connections, checkout and connect bounded by `timeout`."""
    from sqlalchemy import create_engine, event

    if target.is_postgres:
        # The bounds in the driver's own terms (libpq connect_timeout/keepalives, asyncpg timeout).
        driver = target.driver
        query = {k: str(v) for k, v in target.url.query.items()}
        connect_args: dict[str, Any] = drivers.engine_connect_args(
            driver.family if driver else "psycopg2", query, timeout=timeout, application_name=APPLICATION_NAME)
    else:
        connect_args = {"timeout": timeout}
    try:
        if target.is_async:
            # The sync API over the async driver; run_sanity calls it inside a greenlet (in_driver_context).
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(target.url, pool_pre_ping=True, pool_size=2, max_overflow=0,
                                         pool_timeout=timeout, connect_args=connect_args).sync_engine
        else:
            engine = create_engine(target.url, pool_pre_ping=True, pool_size=2, max_overflow=0,
                                   pool_timeout=timeout, connect_args=connect_args)
    except (ImportError, Exception) as exc:  # unknown driver, bad argument: nothing was checked
        raise ConfigError(f"cannot create an engine for {target.masked}: "
                          f"{type(exc).__name__}: {redact(str(exc))}") from None

    if target.is_postgres:
        @event.listens_for(engine, "begin")
        def _bound_transaction(conn: Connection) -> None:
            # Per transaction, because startup `options` are rejected by Neon's pooler.
            # Placeholders in the driver's own style (asyncpg numbers them).
            style = {"pyformat": ("%(s)s", "%(l)s"), "format": ("%s", "%s")}.get(conn.dialect.paramstyle,
                                                                               ("$1", "$2"))
            sql = (f"SELECT set_config('statement_timeout', {style[0]}, true), "
                   f"set_config('lock_timeout', {style[1]}, true)")
            values = (f"{STATEMENT_TIMEOUT_MS}ms", f"{LOCK_TIMEOUT_MS}ms")
            conn.exec_driver_sql(sql, {"s": values[0], "l": values[1]} if "%(" in sql else values)
    return engine


# -- marker rows -----------------------------------------------------------------------------------

def new_token(now: float | None = None) -> str:
    return f"{MARKER_PREFIX}{int(now if now is not None else time.time()):010d}:{uuid.uuid4().hex}"


def is_stale_token(value: str, now: float | None = None) -> bool:
    """SQLite: a marker an interrupted run left behind: neondoctor's exact token shape, an hour old."""
    match = _TOKEN_RE.match(value or "")
    if not match:
        return False
    return int(match.group("ts")) < (now if now is not None else time.time()) - LEFTOVER_AGE


# Namespace of the per-run liveness locks (two-key advisory locks: this key, hashtext(token)).
_LIVENESS_CLASS = 0x6E64


class RunLiveness:
    """On PostgreSQL a run holds a session advisory lock named after its token while its markers
    exist. A marker whose lock is free belongs to a run that is gone (killed, or its server
    restarted), so the next run can remove it at once instead of waiting for it to age."""

    def __init__(self, target: Target) -> None:
        self._enabled = target.is_postgres
        self._conn: Connection | None = None
        self._token = ""

    def hold(self, engine: Engine, token: str) -> None:
        from sqlalchemy import text

        if not self._enabled or self._conn is not None:
            return
        self._token = token
        self._conn = engine.connect()
        self._conn.execute(text("SELECT pg_advisory_lock(:c, hashtext(:t))"), {"c": _LIVENESS_CLASS, "t": token})
        self._conn.commit()  # the session lock outlives the transaction

    def release(self) -> None:
        from sqlalchemy import text

        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:c, hashtext(:t))"),
                               {"c": _LIVENESS_CLASS, "t": self._token})
            self._conn.commit()
        except Exception:
            self._conn.invalidate()  # the server is gone: so is the lock
        finally:
            self._conn.close()
            self._conn = None


def run_is_gone(conn: Connection, token: str) -> bool:
    """PostgreSQL: nobody holds the token's liveness lock (try it, and let it go at once)."""
    from sqlalchemy import text

    got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:c, hashtext(:t))"),
                       {"c": _LIVENESS_CLASS, "t": token}).scalar()
    return bool(got)


_MARKER_METADATA: MetaData | None = None


def marker_table() -> Table:
    """neondoctor's own marker table, used when the metadata is the user's (no user table is written)."""
    global _MARKER_METADATA
    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func

    if _MARKER_METADATA is None:
        _MARKER_METADATA = MetaData()
        Table(
            MARKER_TABLE, _MARKER_METADATA,
            Column("id", Integer, primary_key=True),
            Column("token", String(100), nullable=False, unique=True),
            Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        )
    return _MARKER_METADATA.tables[MARKER_TABLE]


class MarkerStore:
    """Writes, reads and removes marker rows for one mode: `budget` (the tracker's tables) or `marker`."""

    def __init__(self, mode: str) -> None:
        if mode not in ("budget", "marker"):
            raise ValueError(mode)
        self.mode = mode

    def create(self, conn: Connection, token: str) -> str:
        from sqlalchemy import insert

        if self.mode == "marker":
            table = marker_table()
            row_id = conn.execute(insert(table).values(token=token).returning(table.c.id)).scalar_one()
            return f"{MARKER_TABLE} row {row_id}"
        from neondoctor.app.budget.models import Category, Expense

        cat_id = conn.execute(insert(Category).values(name=token).returning(Category.id)).scalar_one()
        exp_id = conn.execute(insert(Expense).values(
            category_id=cat_id, amount=Decimal("0.01"), spent_on=dt.date.today(), description=token,
        ).returning(Expense.id)).scalar_one()
        return f"categories row {cat_id} + expenses row {exp_id}"

    def read(self, conn: Connection, token: str) -> str | None:
        """A description of the marker rows found for `token`, or None when they are not there."""
        from sqlalchemy import select

        if self.mode == "marker":
            table = marker_table()
            row = conn.execute(select(table.c.id, table.c.token).where(table.c.token == token)).first()
            return f"{MARKER_TABLE} row {row.id}" if row else None
        from neondoctor.app.budget.models import Category, Expense

        row = conn.execute(
            select(Category.id, Expense.id.label("expense_id"), Expense.amount)
            .join(Expense, Expense.category_id == Category.id)
            .where(Category.name == token, Expense.description == token)
        ).first()
        if row is None or Decimal(row.amount) != Decimal("0.01"):
            return None
        return f"categories row {row.id} + expenses row {row.expense_id}"

    def remove(self, conn: Connection, tokens: list[str]) -> int:
        """Delete the marker rows of `tokens` (only rows carrying one of those exact tokens)."""
        from sqlalchemy import delete, select

        if not tokens:
            return 0
        if self.mode == "marker":
            table = marker_table()
            return conn.execute(delete(table).where(table.c.token.in_(tokens))).rowcount or 0
        from neondoctor.app.budget.models import Category, Expense

        ids = list(conn.execute(select(Category.id).where(Category.name.in_(tokens))).scalars())
        if not ids:
            return 0
        removed = conn.execute(delete(Expense).where(Expense.category_id.in_(ids),
                                                     Expense.description.in_(tokens))).rowcount or 0
        return removed + (conn.execute(delete(Category).where(Category.id.in_(ids))).rowcount or 0)

    def stale_tokens(self, conn: Connection) -> list[str]:
        from sqlalchemy import select

        if self.mode == "marker":
            column = marker_table().c.token
        else:
            from neondoctor.app.budget.models import Category

            column = Category.name  # type: ignore[assignment]
        found = conn.execute(select(column).where(column.startswith(MARKER_PREFIX, autoescape=True))).scalars()
        if conn.dialect.name == "postgresql":
            # A marker is stale as soon as its run is gone; concurrent live runs keep theirs.
            return [t for t in found if _TOKEN_RE.match(t) and run_is_gone(conn, t)]
        return [t for t in found if is_stale_token(t)]


# -- triage seam -----------------------------------------------------------------------------------

def triage_hint(error_text: str) -> dict[str, Any] | None:
    """The runbook matching a failed step's error: id, title and first steps; None when none matches.

    The triage engine is optional here: if it cannot be imported or loaded, the step's own error
    is still reported.
    """
    try:
        from neondoctor.triage.matcher import match_text
        from neondoctor.triage.runbook import load_runbooks
    except ImportError:
        return None
    try:
        found = match_text(error_text, load_runbooks())
    except Exception:  # a broken runbook must not hide the sanity result itself
        return None
    if found is None:
        return None
    book = found.runbook
    steps = []
    for step in book.steps[:3]:
        item = {"id": step.id, "cause": step.cause}
        if step.fix:
            item["fix"] = step.fix
        steps.append(item)
    return {"runbook": book.id, "title": book.title, "matched": redact(found.text)[:300],
            "first_steps": steps, "command": "neondoctor triage"}


# -- the sequence ----------------------------------------------------------------------------------

def error_text(exc: BaseException) -> str:
    """One readable line for a step's error: the driver's message, not SQLAlchemy's wrapper."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, StepFailed | ConfigError):
        base = str(exc)
    elif isinstance(exc, DBAPIError) and exc.orig is not None:
        base = f"{type(exc.orig).__name__}: {exc.orig}"
    else:
        base = f"{type(exc).__name__}: {exc}"
    lines = [ln.strip() for ln in base.strip().splitlines() if ln.strip()]
    # Drop SQLAlchemy's statement/parameter echo and its background link; keep the server's lines.
    # and psycopg2's "LINE 2: CREATE TABLE ..." / "^" pointer, which only repeat the statement.
    lines = [ln for ln in lines if not ln.startswith(("[SQL:", "[parameters:", "(Background on", "LINE ", "^"))]
    return redact(" ".join(lines)[:1000])


class StepFailed(Exception):
    """A step's own check did not hold (not a driver error)."""


@contextmanager
def _timed(result: StepResult) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
        result.status = "passed"
    except Exception as exc:
        result.status = "failed"
        result.error = error_text(exc)
        result.detail = result.detail or result.error
    finally:
        result.duration_ms = (time.perf_counter() - start) * 1000


def run_sanity(
    raw_url: str,
    *,
    metadata_spec: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    after_step: StepHook | None = None,
    child_timeout: float = CHILD_TIMEOUT,
) -> SanityReport:
    """Run the five steps against `raw_url`. Configuration mistakes raise ConfigError before any step.

    `after_step(name, report)` is called after each step that passed, before the next one: the
    tests use it to stop the server or remove a row between two steps.
    """

    target = resolve_target(raw_url)
    return in_driver_context(target, lambda: _run_sanity(target, metadata_spec, timeout, after_step, child_timeout))


def in_driver_context(target: Target, fn: Callable[[], T]) -> T:
    """Call fn directly, or for an async driver inside a greenlet on a private event loop: there
    SQLAlchemy's sync API drives the async driver, as AsyncEngine.run_sync does."""
    if not target.is_async:
        return fn()
    import asyncio

    from sqlalchemy.util import greenlet_spawn

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(greenlet_spawn(fn))
    finally:
        loop.close()


def _run_sanity(target: Target, metadata_spec: str | None, timeout: int, after_step: StepHook | None,
                child_timeout: float) -> SanityReport:
    if metadata_spec:
        metadata: MetaData = load_metadata(metadata_spec)
        mode = "marker"
    else:
        from neondoctor.app.budget.models import Base

        metadata = Base.metadata
        mode = "budget"
    report = SanityReport(database=target.masked, dialect=target.dialect,
                          metadata=metadata_spec or BUDGET_SPEC, token=new_token(),
                          driver=target.url.get_driver_name(), driver_reason=target.driver_reason)
    store = MarkerStore(mode)
    engine = make_engine(target, timeout=timeout)
    # Client-side bound on every step's calls: a frozen backend enforces no statement_timeout.
    dog = Watchdog(timeout + CANCEL_GRACE)
    dog.track_engine(engine)
    liveness = RunLiveness(target)
    started = time.perf_counter()
    created = False
    try:
        steps: list[tuple[str, Callable[[StepResult], None]]] = [
            ("health", lambda r: _health(engine, r)),
            ("schema", lambda r: _schema(engine, target, metadata, r)),
            ("tables", lambda r: _tables(engine, metadata, r)),
            ("round_trip", lambda r: (liveness.hold(engine, report.token),
                                      _round_trip(engine, target, store, report.token, r))),
            ("restart", lambda r: _restart(target, mode, report.token, r, child_timeout, timeout)),
        ]
        for name, action in steps:
            result = report.step(name)
            with _timed(result), dog.armed(child_timeout if name == "restart" else None):
                if name == "round_trip":
                    created = True  # from here on a marker may exist, even if the step fails midway
                action(result)
            if dog.fired and result.status == "failed":
                result.error = result.detail = (f"the server stopped answering: no reply within {dog.timeout:g} s; "
                                                f"neondoctor cancelled and closed the connection ({result.error})")
            get_logger("neondoctor.sanity.sequence").info("sanity step", step=name, status=result.status,
                                                 duration_ms=round(result.duration_ms, 2), detail=result.detail)
            if result.status == "failed":
                report.triage = triage_hint(result.error or "")
                break
            if after_step is not None:
                after_step(name, report)
    finally:
        if created:
            for _ in range(2):  # once more on a fresh connection if the pooled one had stalled
                with dog.armed():
                    report.cleanup = _cleanup(engine, store, report.token)
                if not (dog.fired and report.cleanup.startswith("could not")):
                    break
        with dog.armed():
            liveness.release()
        with dog.armed():
            engine.dispose()
        report.duration_ms = (time.perf_counter() - started) * 1000
    return report


def _health(engine: Engine, result: StepResult) -> None:
    from sqlalchemy import text

    with engine.connect() as conn:
        value = conn.execute(text("SELECT 1")).scalar_one()
        if value != 1:
            raise StepFailed(f"SELECT 1 returned {value!r}")
        version = ".".join(str(v) for v in (conn.dialect.server_version_info or ())[:2])
    label = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(engine.dialect.name, engine.dialect.name)
    result.detail = f"SELECT 1 through a pre-pinged pool ({label} {version})".replace(" )", ")")


def _advisory_lock(conn: Connection, target: Target) -> None:
    from sqlalchemy import text

    if target.is_postgres:
        # Transaction-scoped: released at commit/rollback; bounded by lock_timeout.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})


def _schema(engine: Engine, target: Target, metadata: MetaData, result: StepResult) -> None:
    from sqlalchemy import inspect

    with engine.begin() as conn:
        _advisory_lock(conn, target)
        existing = {t.name for t in metadata.sorted_tables if inspect(conn).has_table(t.name, schema=t.schema)}
        try:
            metadata.create_all(conn, checkfirst=True)
        except Exception as exc:
            if "permission denied" in str(exc):
                raise StepFailed(f"create_all failed: {error_text(exc)} (the role may not CREATE tables here: "
                                 "GRANT CREATE ON SCHEMA to it, or run migrations as the schema owner)") from None
            raise
    made = [t.name for t in metadata.sorted_tables if t.name not in existing]
    result.detail = (f"create_all: created {', '.join(made)}" if made
                     else f"create_all: all {len(metadata.tables)} tables already existed")


def _tables(engine: Engine, metadata: MetaData, result: StepResult) -> None:
    from sqlalchemy import inspect

    with engine.connect() as conn:
        inspector = inspect(conn)
        missing = [t.fullname for t in metadata.sorted_tables if not inspector.has_table(t.name, schema=t.schema)]
    if missing:
        raise StepFailed(f"tables missing after create_all: {', '.join(missing)}")
    result.detail = f"{len(metadata.tables)} tables present: {', '.join(sorted(metadata.tables))}"


def _round_trip(engine: Engine, target: Target, store: MarkerStore, token: str, result: StepResult) -> None:
    from sqlalchemy.orm import Session

    if store.mode == "marker":
        with engine.begin() as conn:
            _advisory_lock(conn, target)
            marker_table().create(conn, checkfirst=True)
    stale = _remove_stale(engine, store)
    with Session(engine) as session, session.begin():
        written = store.create(session.connection(), token)
    # A new session on a new checkout: the row must come from the database, not the identity map.
    with Session(engine) as session:
        found = store.read(session.connection(), token)
    if found is None:
        raise StepFailed(f"marker {token} was written ({written}) but a new session did not find it")
    result.detail = f"wrote and read back {found} in a new session"
    if isinstance(stale, int) and stale:
        result.detail += f"; removed {stale} leftover marker rows of an interrupted run"
    elif isinstance(stale, str):
        result.detail += f"; leftover markers kept: {stale}"


def _remove_stale(engine: Engine, store: MarkerStore) -> int | str:
    """Remove markers of interrupted runs, in a transaction of its own: a failure here (say, a user
    row referencing a marker) is reported, never a reason to fail the step."""
    from sqlalchemy.orm import Session

    try:
        with Session(engine) as session, session.begin():
            conn = session.connection()
            return store.remove(conn, store.stale_tokens(conn))
    except Exception as exc:
        return error_text(exc)


def _restart(target: Target, mode: str, token: str, result: StepResult, child_timeout: float,
             timeout: int) -> None:
    env = dict(os.environ)
    # The URL travels in the environment: argv is visible to every user through `ps`.
    env[_ENV_URL] = target.url.render_as_string(hide_password=False)
    env[_ENV_TOKEN] = token
    env[_ENV_MODE] = mode
    env[_ENV_TIMEOUT] = str(timeout)
    try:
        proc = subprocess.run([sys.executable, "-m", "neondoctor.sanity.sequence"], env=env, capture_output=True,
                              text=True, timeout=child_timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"the new process did not answer within {child_timeout:.0f}s") from None
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = redact(" ".join(proc.stderr.strip().splitlines()[-3:]))[:500]
        raise StepFailed(f"the new process exited {proc.returncode} without an answer: {tail}") from None
    child_pid = answer.get("pid")
    if child_pid == os.getpid():
        raise StepFailed("the marker was read back by this same process, not a new one")
    if answer.get("error"):
        raise StepFailed(f"new process (pid {child_pid}): {answer['error']}")
    if not answer.get("found"):
        raise StepFailed(f"new process (pid {child_pid}) did not find marker {token}")
    result.detail = f"new process (pid {child_pid}, this one {os.getpid()}) read back {answer['found']}"


def _cleanup(engine: Engine, store: MarkerStore, token: str) -> str:
    from sqlalchemy.orm import Session

    try:
        with Session(engine) as session, session.begin():
            removed = store.remove(session.connection(), [token])
        return f"removed {removed} marker rows"
    except Exception as exc:  # the server may be gone; a later run removes the leftovers
        return f"could not remove marker rows (a later run will): {error_text(exc)}"


# -- step 5's child process ------------------------------------------------------------------------

def _child_main() -> int:
    """Read the marker row in a fresh interpreter; print {"pid", "found"|"error"} as one JSON line."""
    answer: dict[str, Any] = {"pid": os.getpid()}
    code = 0
    try:
        raw, token, mode = os.environ[_ENV_URL], os.environ[_ENV_TOKEN], os.environ[_ENV_MODE]
    except KeyError as exc:
        print(json.dumps({**answer, "error": f"missing environment variable {exc}"}))
        return 2
    try:
        target = resolve_target(raw)
        timeout = int(os.environ.get(_ENV_TIMEOUT) or DEFAULT_TIMEOUT)
        engine = make_engine(target, timeout=min(max(timeout, 2), DEFAULT_TIMEOUT))

        dog = Watchdog(timeout + CANCEL_GRACE)
        dog.track_engine(engine)

        def read() -> str | None:
            try:
                with dog.armed(), engine.connect() as conn:
                    return MarkerStore(mode).read(conn, token)
            finally:
                with dog.armed():
                    engine.dispose()
        answer["found"] = in_driver_context(target, read)
        code = 0 if answer["found"] else 1
    except Exception as exc:
        answer["error"] = error_text(exc)
        code = 2
    print(json.dumps(answer))
    return code


if __name__ == "__main__":
    sys.exit(_child_main())
