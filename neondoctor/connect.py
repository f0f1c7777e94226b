"""neondoctor's own connections: exactly one, bounded in time, read-only, named `neondoctor`.

Timeouts are set with SET LOCAL inside a READ ONLY transaction rather than `options=-c ...`,
because Neon's pooler rejects startup options (`unsupported startup parameter in options`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from neondoctor.url import ParsedUrl, libpq_kwargs

DEFAULT_CONNECT_TIMEOUT = 5  # seconds; libpq's minimum is 2
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_LOCK_TIMEOUT_MS = 1000
APPLICATION_NAME = "neondoctor"


def connect_kwargs(parsed: ParsedUrl, *, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
                   application_name: str = APPLICATION_NAME) -> dict[str, Any]:
    kwargs: dict[str, Any] = libpq_kwargs(parsed)
    # Never wait forever: a URL's own connect_timeout is honoured only when it is bounded.
    given = str(kwargs.get("connect_timeout", "")).strip()
    if not given.isdigit() or int(given) == 0 or int(given) > connect_timeout:
        kwargs["connect_timeout"] = max(2, connect_timeout)
    kwargs["application_name"] = application_name
    # Keepalives so a black-holed peer is noticed after the connection is up.
    kwargs.setdefault("keepalives", 1)
    kwargs.setdefault("keepalives_idle", 5)
    kwargs.setdefault("keepalives_interval", 2)
    kwargs.setdefault("keepalives_count", 2)
    kwargs.setdefault("tcp_user_timeout", connect_timeout * 1000)
    return kwargs


def open_connection(parsed: ParsedUrl, **options: Any) -> Any:
    """One raw psycopg2 connection with bounded timeouts. Raises the driver's own error."""
    import psycopg2

    return psycopg2.connect(**connect_kwargs(parsed, **options))


@contextlib.contextmanager
def read_only_cursor(
    parsed: ParsedUrl,
    *,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    application_name: str = APPLICATION_NAME,
) -> Iterator[Any]:
    """A cursor inside a READ ONLY transaction with local timeouts, rolled back at the end."""
    conn = open_connection(parsed, connect_timeout=connect_timeout, application_name=application_name)
    # psycopg2 opens the transaction itself (BEGIN READ ONLY); a second BEGIN would only warn.
    conn.set_session(readonly=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true), "
                        "set_config('lock_timeout', %s, true), "
                        "set_config('idle_in_transaction_session_timeout', %s, true)",
                        (str(statement_timeout_ms), str(lock_timeout_ms), str(statement_timeout_ms * 4)))
            yield cur
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()
