"""A client-side deadline for calls on open connections, for every driver.

A frozen backend or a pooler that queues never enforces `statement_timeout`, and the kernel keeps
acknowledging TCP, so keepalives do not fire either. At the deadline the watchdog asks the server
to cancel (bounded by CANCEL_GRACE), then shuts the connection's socket down: the call blocked on
it wakes with a "connection closed" error, which the caller reports as a stall.

Shutting the socket down (rather than closing the descriptor) wakes a thread blocked in poll() and
leaves the descriptor to its owner, so no other file can reuse it in between.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from neondoctor.netcheck import bounded

CANCEL_GRACE = 1.0  # seconds a cancel request may take before the socket is shut down anyway


def _fileno(conn: Any) -> int | None:
    transport = getattr(conn, "_transport", None)  # asyncpg
    if transport is not None:
        sock = transport.get_extra_info("socket")
        return sock.fileno() if sock is not None else None
    fileno = getattr(conn, "fileno", None)  # psycopg2, psycopg 3
    return fileno() if callable(fileno) else None


def abort(conn: Any) -> None:
    """Cancel what `conn` is running (libpq drivers), then shut its socket down. Never raises."""
    import inspect

    if not hasattr(conn, "_transport"):  # asyncpg's cancel needs its own event loop: skip
        cancel = getattr(conn, "cancel_safe", None) or getattr(conn, "cancel", None)
        if cancel is not None and not inspect.iscoroutinefunction(cancel):  # psycopg's async one too
            with contextlib.suppress(BaseException):
                bounded(cancel, CANCEL_GRACE)
    with contextlib.suppress(Exception):
        fd = _fileno(conn)
        if fd is None or fd < 0:
            return
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


class Watchdog:
    """Aborts the tracked driver connections when an armed deadline passes without progress.

    `kick()` (called on every statement and checkout of a tracked engine) pushes the deadline back,
    so a block of many quick statements is fine; one call that hangs is not.
    """

    POLL = 0.05  # seconds between deadline checks

    def __init__(self, timeout: float) -> None:
        self.timeout = float(timeout)
        self.fired = False
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._limit: float | None = None
        self._deadline = 0.0

    def track(self, conn: Any) -> None:
        with self._lock:
            self._conns.append(conn)

    def kick(self, *_: Any) -> None:
        if self._limit is not None:
            self._deadline = time.monotonic() + self._limit

    def track_engine(self, engine: Any) -> None:
        """Track every DBAPI connection a SQLAlchemy engine (sync, or an AsyncEngine's) opens; its
        statements and checkouts count as progress."""
        from sqlalchemy import event

        sync = getattr(engine, "sync_engine", engine)

        def on_do_connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
            # Connect as SQLAlchemy would, and track the connection before the dialect's own
            # first queries (server version, isolation level, type info) run on it.
            conn = dialect.connect(*cargs, **cparams)
            self.kick()
            self.track(getattr(conn, "driver_connection", None) or conn)
            return conn

        event.listen(sync, "do_connect", on_do_connect)
        event.listen(sync.pool, "checkout", self.kick)
        event.listen(sync, "before_cursor_execute", self.kick)
        event.listen(sync, "after_cursor_execute", self.kick)

    def _fire(self) -> None:
        self.fired = True
        with self._lock:
            conns, self._conns = list(self._conns), []
        for conn in conns:
            abort(conn)

    @contextlib.contextmanager
    def armed(self, seconds: float | None = None, *, rounds: int = 3) -> Iterator[Watchdog]:
        """Within the block, the tracked connections are aborted once `seconds` (default: timeout)
        pass without progress. A pool may replace an aborted connection (pre-ping) and go on, so
        the block as a whole ends `rounds` deadlines after it began: from then on every tracked
        connection is aborted at once. `fired` tells afterwards whether any of it happened."""
        self.fired = False
        self._limit = self.timeout if seconds is None else seconds
        self._deadline = time.monotonic() + self._limit
        hard = time.monotonic() + rounds * self._limit
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(self.POLL):
                now = time.monotonic()
                if now >= self._deadline or now >= hard:
                    self._fire()
                    self.kick()  # keep watching: a replacement connection may stall too

        thread = threading.Thread(target=watch, daemon=True, name="neondoctor-watchdog")
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            self._limit = None
