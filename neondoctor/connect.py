"""neondoctor's own connections: exactly one at a time, bounded in time, read-only, named `neondoctor`,
in the URL's own driver (psycopg2, psycopg 3 or asyncpg; see `neondoctor.drivers`).

Every step is bounded on the client side, because a server that stops answering on an open
connection (a frozen backend, a pooler that queues) enforces no `statement_timeout`:
- connecting: libpq's `connect_timeout`, asyncpg's `timeout` (and `asyncio.wait_for` around it);
- each call on an open connection: `neondoctor.watchdog`. For psycopg2 and psycopg 3 a timer thread
  sends a cancel request at the deadline, then shuts the socket down, which wakes the blocked call;
  libpq keepalives and `tcp_user_timeout` catch a peer that vanished. asyncpg runs on a private event
  loop under `asyncio.wait_for`, and `terminate()` drops the connection at the deadline.
A call that hit its deadline raises `Stalled` (exit 4), never the driver's "connection closed".

Timeouts are set with set_config(..., true) inside a READ ONLY transaction rather than
`options=-c ...`, because Neon's pooler rejects startup options.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from neondoctor import drivers
from neondoctor.errors import EXIT_UNREACHABLE, NeondoctorError
from neondoctor.redaction import redact
from neondoctor.url import ParsedUrl
from neondoctor.watchdog import CANCEL_GRACE, Watchdog

DEFAULT_CONNECT_TIMEOUT = 5  # seconds; libpq's minimum is 2
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_LOCK_TIMEOUT_MS = 1000
APPLICATION_NAME = "neondoctor"

T = TypeVar("T")


class Unreachable(NeondoctorError):
    """Could not connect, or the connection stopped working (exit 4)."""

    exit_code = EXIT_UNREACHABLE


class SlotsFull(Unreachable):
    """The server refused the connection because its slots are taken (SQLSTATE 53300)."""


class Stalled(Unreachable):
    """The server stopped answering on an open connection; the watchdog cancelled and closed it."""


# ------------------------------------------------------------------------ classifying connect errors

# psycopg2 and psycopg 3 connect errors carry no SQLSTATE, so the texts are matched too.
_KINDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("database", ("3D000",), ()),
    ("slots", ("53300",), ("too many clients", "remaining connection slots are reserved", "too many connections for")),
    ("auth", ("28P01", "28000"), ("password authentication failed", "no pg_hba.conf entry", "pg_hba.conf rejects",
                                  "authentication failed", "role \"")),
    ("ssl", (), ("ssl",)),
    ("network", (), ("connection refused", "could not translate host", "timeout expired", "could not connect",
                     "no route to host", "connect call failed", "name or service not known", "failed to resolve host",
                     "temporary failure in name resolution", "name does not resolve", "nodename nor servname")),
)


def classify_connect_error(exc: BaseException) -> str:
    """database | slots | auth | ssl | network | other, from the SQLSTATE or the message."""
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None) or ""
    msg = str(exc).lower()
    if "database \"" in msg and "does not exist" in msg:
        return "database"
    for kind, codes, markers in _KINDS:
        if code in codes or any(m in msg for m in markers):
            return kind
    if isinstance(exc, TimeoutError | OSError):  # asyncpg: refused, unresolvable, timed out
        return "network"
    return "other"


def error_line(exc: BaseException) -> str:
    """The server's FATAL line when there is one, else the whole message on one line; redacted."""
    text = str(exc).strip()
    fatal = [line.split("FATAL:", 1)[1].strip() for line in text.splitlines() if "FATAL:" in line]
    line = fatal[0] if fatal else " ".join(part.strip() for part in text.splitlines() if part.strip())
    return redact(line or type(exc).__name__)


def unreachable(exc: BaseException) -> Unreachable:
    """The connect error as neondoctor's own: SlotsFull for 53300, Unreachable otherwise."""
    if isinstance(exc, Unreachable):
        return exc
    return (SlotsFull if classify_connect_error(exc) == "slots" else Unreachable)(error_line(exc))


# ------------------------------------------------------------------------ one open connection


def _asyncpg_sql(sql: str) -> str:
    """%s / %(name)s placeholders as asyncpg's $1, $2 ... (each name numbered once)."""
    names: dict[str, int] = {}
    counter = iter(range(1, 1000))

    def number(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is None:
            return f"${next(counter)}"
        if name not in names:
            names[name] = next(counter)
        return f"${names[name]}"

    return re.sub(r"%%|%\((\w+)\)s|%s", number, sql)


def _asyncpg_args(sql: str, params: Any) -> list[Any]:
    if params is None:
        return []
    if isinstance(params, dict):
        order: list[str] = []
        for name in re.findall(r"%\((\w+)\)s", sql):
            if name not in order:
                order.append(name)
        return [params[name] for name in order]
    return list(params)


class Session:
    """One open connection in the URL's driver. Every call is bounded by `timeout` seconds."""

    def __init__(self, parsed: ParsedUrl, *, timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 application_name: str = APPLICATION_NAME, choice: drivers.Choice | None = None) -> None:
        self.choice = choice or drivers.choose(parsed)
        self.driver, self.note = drivers.speaking(self.choice)
        self.timeout = float(timeout)
        self._kwargs = drivers.connect_params(parsed, self.driver.family, timeout=timeout,
                                              application_name=application_name)
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- connecting: raises the driver's own error, which the probes show as evidence
    def open(self) -> Session:
        family = self.driver.family
        if family == "psycopg2":
            import psycopg2

            self._conn = psycopg2.connect(**self._kwargs)
            self._conn.autocommit = True
        elif family == "psycopg":
            import psycopg

            self._conn = psycopg.connect(autocommit=True, **self._kwargs)
        else:
            import asyncpg

            self._loop = asyncio.new_event_loop()
            # A terminated connection leaves futures nobody awaits; their errors are ours to report.
            self._loop.set_exception_handler(lambda loop, context: None)
            try:
                self._conn = self._loop.run_until_complete(
                    asyncio.wait_for(asyncpg.connect(**self._kwargs), self.timeout + CANCEL_GRACE))
            except BaseException:
                self._close_loop()
                raise
        return self

    # -- statements
    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement; its rows as tuples (empty when it returns none)."""
        if self.driver.family == "asyncpg":
            rows = self._run_async(self._conn.fetch(_asyncpg_sql(sql), *_asyncpg_args(sql, params)))
            return [tuple(r) for r in rows]

        def call() -> list[tuple[Any, ...]]:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
        return self._guarded(call)

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def begin_read_only(self, *, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
                        lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> None:
        """BEGIN READ ONLY with transaction-local timeouts (server side; the watchdog is the client side)."""
        self.query("BEGIN READ ONLY")
        self.query("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
                   "set_config('idle_in_transaction_session_timeout', %s, true)",
                   (str(statement_timeout_ms), str(lock_timeout_ms), str(statement_timeout_ms * 4)))

    def rollback(self) -> None:
        self.query("ROLLBACK")

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self.driver.family == "asyncpg":
            assert self._loop is not None
            try:
                self._loop.run_until_complete(asyncio.wait_for(conn.close(), CANCEL_GRACE))
            except BaseException:
                conn.terminate()
            self._close_loop()
        else:
            with contextlib.suppress(Exception):
                conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the watchdog
    def _guarded(self, call: Callable[[], T]) -> T:
        dog = Watchdog(self.timeout)
        dog.track(self._conn)
        try:
            with dog.armed():
                return call()
        except Exception:
            if dog.fired:
                raise self._stalled() from None
            raise

    def _run_async(self, coro: Any) -> Any:
        assert self._loop is not None
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, self.timeout))
        except TimeoutError:
            self._conn.terminate()
            raise self._stalled() from None

    def _stalled(self) -> Stalled:
        return Stalled(f"the server stopped answering: no reply within {self.timeout:g} s on an open connection "
                       f"({self.driver.label}); neondoctor cancelled the statement and closed the connection")

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def open_session(parsed: ParsedUrl, **options: Any) -> Session:
    """One open connection (autocommit) in the URL's driver; raises the driver's own connect error."""
    return Session(parsed, **options).open()


@contextlib.contextmanager
def read_only(
    parsed: ParsedUrl,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    application_name: str = APPLICATION_NAME,
) -> Iterator[Session]:
    """A session inside a READ ONLY transaction with local timeouts, rolled back and closed at the end.
    Connect errors come out as Unreachable / SlotsFull."""
    session = Session(parsed, timeout=connect_timeout, application_name=application_name)
    try:
        session.open()
    except Exception as exc:
        raise unreachable(exc) from None
    try:
        session.begin_read_only(statement_timeout_ms=statement_timeout_ms, lock_timeout_ms=lock_timeout_ms)
        yield session
    finally:
        with contextlib.suppress(Exception):
            session.rollback()
        session.close()
